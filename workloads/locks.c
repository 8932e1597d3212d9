// locks MODE THREADS ITERS HOLD_US: THREADS threads take one lock ITERS times each and hold it
// HOLD_US microseconds (busy, by CLOCK_MONOTONIC: a preempted holder still holds it that long, not
// longer), then print what they measured themselves as one JSON line: the oracle the lock tests
// check procimage against.
//   MODE mutex    pthread_mutex_lock/unlock
//   MODE rwlock   even iterations pthread_rwlock_rdlock, odd ones pthread_rwlock_wrlock
//   MODE spin     pthread_spin_lock/unlock
//   MODE trylock  pthread_mutex_trylock until it succeeds (failed tries counted)
//   MODE kernel   no user lock: mmap/munmap of one page ITERS times, so that the threads contend on
//                 their process's mmap_lock in the kernel (HOLD_US unused)
// Output: {"mode":..., "lock":"0x...", "threads":[{"tid":..., "acquisitions":..., "failed":...,
//          "wait_ns":..., "hold_ns":..., "hold_max_ns":...}, ...]}
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char *mode;
static long iters, hold_ns;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_spinlock_t spin;
static pthread_barrier_t start;

struct result {
	pid_t tid;
	long acquisitions, failed;
	long long wait_ns, hold_ns, hold_max_ns;
};

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void take(long i, struct result *r)
{
	if (!strcmp(mode, "mutex")) {
		pthread_mutex_lock(&mutex);
	} else if (!strcmp(mode, "trylock")) {
		while (pthread_mutex_trylock(&mutex)) {
			r->failed++;
			sched_yield();
		}
	} else if (!strcmp(mode, "rwlock")) {
		if (i % 2)
			pthread_rwlock_wrlock(&rwlock);
		else
			pthread_rwlock_rdlock(&rwlock);
	} else {
		pthread_spin_lock(&spin);
	}
}

static void release(void)
{
	if (!strcmp(mode, "mutex") || !strcmp(mode, "trylock"))
		pthread_mutex_unlock(&mutex);
	else if (!strcmp(mode, "rwlock"))
		pthread_rwlock_unlock(&rwlock);
	else
		pthread_spin_unlock(&spin);
}

static void *worker(void *arg)
{
	struct result *r = arg;
	r->tid = gettid();
	pthread_barrier_wait(&start);
	for (long i = 0; i < iters; i++) {
		if (!strcmp(mode, "kernel")) {
			void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			*(volatile char *)p = 1;
			munmap(p, 4096);
			continue;
		}
		long long t0 = now_ns();
		take(i, r);
		long long t1 = now_ns();
		while (now_ns() - t1 < hold_ns)
			; /* hold it, busy */
		long long t2 = now_ns();
		release();
		r->acquisitions++;
		r->wait_ns += t1 - t0;
		r->hold_ns += t2 - t1;
		if (t2 - t1 > r->hold_max_ns)
			r->hold_max_ns = t2 - t1;
		for (long long t = now_ns(); now_ns() - t < 20000;)
			; /* 20 us outside the lock, so that the holder does not simply take it again */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: locks mutex|rwlock|spin|trylock|kernel THREADS ITERS HOLD_US\n");
		return 2;
	}
	mode = argv[1];
	int n = atoi(argv[2]);
	iters = atol(argv[3]);
	hold_ns = atol(argv[4]) * 1000;
	pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
	pthread_barrier_init(&start, NULL, n);
	pthread_t th[64];
	struct result res[64] = {0};
	if (n < 1 || n > 64)
		return 2;
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, &res[i]);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);

	void *lock = !strcmp(mode, "rwlock") ? (void *)&rwlock : !strcmp(mode, "spin") ? (void *)&spin : (void *)&mutex;
	printf("{\"mode\":\"%s\",\"lock\":\"%p\",\"threads\":[", mode, lock);
	for (int i = 0; i < n; i++)
		printf("%s{\"tid\":%d,\"acquisitions\":%ld,\"failed\":%ld,\"wait_ns\":%lld,\"hold_ns\":%lld,\"hold_max_ns\":%lld}",
		       i ? "," : "", res[i].tid, res[i].acquisitions, res[i].failed, res[i].wait_ns, res[i].hold_ns,
		       res[i].hold_max_ns);
	printf("]}\n");
	return 0;
}
