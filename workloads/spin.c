// The busy system's yardstick: THREADS threads spin on integer work for SECONDS and the total rate is
// printed (operations per second). What a collector takes from the machine shows as a lower rate.
//   spin THREADS SECONDS
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds;
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *spin(void *arg)
{
	unsigned long long ops = 0, x = 1;
	double end = now() + seconds;
	while (now() < end) {
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		ops += 100000;
	}
	*(unsigned long long *)arg = ops + (x == 42); /* keeps x alive */
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fprintf(stderr, "usage: spin THREADS SECONDS\n"), 2;
	int n = atoi(argv[1]);
	seconds = atof(argv[2]);
	pthread_t t[256];
	unsigned long long ops[256] = {0}, total = 0;
	if (n < 1 || n > 256)
		return 2;
	double start = now();
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, spin, &ops[i]);
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		total += ops[i];
	}
	printf("%.0f\n", total / (now() - start));
	return 0;
}
