// manythreads N SECONDS [PERIOD_MS]: N threads alive at once (issue 17's 20,000-thread load), each
// sleeping PERIOD_MS (default 1000) at a time until SECONDS have passed: N/PERIOD switches a second
// across N threads, each with its own kernel and user stacks. Prints how many threads it started.
// Small stacks (64 KiB) so that 20,000 of them stay cheap.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long period_ms = 1000;
static struct timespec end;

static void *sleeper(void *arg)
{
	(void)arg;
	struct timespec t = { period_ms / 1000, (period_ms % 1000) * 1000000L }, now;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			return NULL;
		nanosleep(&t, NULL);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: manythreads N SECONDS [PERIOD_MS]\n");
		return 2;
	}
	long n = atol(argv[1]), seconds = atol(argv[2]);
	if (argc > 3)
		period_ms = atol(argv[3]);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	pthread_t *ts = calloc(n, sizeof(*ts));
	long started = 0;
	for (long i = 0; i < n; i++) {
		if (pthread_create(&ts[i], &attr, sleeper, NULL))
			break;
		started++;
	}
	printf("%ld threads\n", started);
	fflush(stdout);
	for (long i = 0; i < started; i++)
		pthread_join(ts[i], NULL);
	return started == n ? 0 : 1;
}
