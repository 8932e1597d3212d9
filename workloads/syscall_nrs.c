// syscall_nrs THREADS K NR...: THREADS threads (started together behind a barrier), each making K
// rounds of the given syscall numbers, in order. Numbers no kernel table has (>= 512) fail with
// ENOSYS and touch nothing: the syscall category's in-kernel tables under a known load (numbers that
// share their low bits, more (thread, syscall) pairs than its array holds). Prints the calls that
// failed with ENOSYS, per thread, summed: {"enosys":N}.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static long k, *nrs;
static int n;
static pthread_barrier_t start;
static long enosys;

static void *worker(void *arg)
{
	long mine = 0;
	pthread_barrier_wait(&start);
	for (long i = 0; i < k; i++)
		for (int j = 0; j < n; j++)
			if (syscall(nrs[j]) == -1 && errno == ENOSYS)
				mine++;
	__atomic_add_fetch(&enosys, mine, __ATOMIC_RELAXED);
	return arg;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: syscall_nrs THREADS K NR...\n");
		return 2;
	}
	int threads = atoi(argv[1]);
	k = atol(argv[2]);
	n = argc - 3;
	nrs = calloc(n, sizeof(*nrs));
	for (int j = 0; j < n; j++)
		nrs[j] = atol(argv[3 + j]);
	pthread_t *t = calloc(threads, sizeof(*t));
	pthread_barrier_init(&start, NULL, threads);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, worker, NULL))
			return 1;
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("{\"enosys\":%ld}\n", enosys);
	return 0;
}
