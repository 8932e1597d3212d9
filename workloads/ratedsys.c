// ratedsys RATE SECONDS [THREADS]: getppid() at RATE calls per second in all (0: as fast as possible)
// for SECONDS, spread over THREADS threads, then prints how many calls were made. A producer of a
// known event count for the ring-reader benchmark.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double rate, secs;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *produce(void *arg)
{
	double t0 = now(), end = t0 + secs;
	long done = 0;
	for (;;) {
		double t = now();
		if (t >= end)
			break;
		long due = rate > 0 ? (long)((t - t0) * rate) : done + 1000;
		while (done < due) { /* bursts of at most 1000 keep the clock checks cheap */
			syscall(SYS_getppid);
			if (++done % 1000 == 0)
				break;
		}
	}
	*(long *)arg = done;
	return NULL;
}

int main(int argc, char **argv)
{
	rate = argc > 1 ? atof(argv[1]) : 0;
	secs = argc > 2 ? atof(argv[2]) : 1;
	int n = argc > 3 ? atoi(argv[3]) : 1;
	pthread_t t[64];
	long done[64] = {0}, total = 0;
	if (n < 1 || n > 64)
		return 2;
	rate /= n;
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, produce, &done[i]);
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		total += done[i];
	}
	printf("%ld\n", total);
	return 0;
}
