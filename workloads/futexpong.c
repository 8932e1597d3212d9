// futexpong N: two threads of one process hand a turn back and forth N times through a futex word
// (FUTEX_WAIT / FUTEX_WAKE, as a mutex and condition variable do underneath), then print the ns per
// round trip (on stderr). Pinned to one CPU (taskset -c 0), every hand-over is a wakeup and a context switch
// between two threads of the same address space: keytime's switch-heavy case without a pipe.
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int turn; /* 0: main's turn, 1: the other thread's */
static long rounds;

static void wait_for(int mine)
{
	while (atomic_load(&turn) != mine)
		syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, !mine, NULL, NULL, 0);
}

static void hand_over(int to)
{
	atomic_store(&turn, to);
	syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *other(void *arg)
{
	for (long i = 0; i < rounds; i++) {
		wait_for(1);
		hand_over(0);
	}
	return arg;
}

int main(int argc, char **argv)
{
	rounds = argc > 1 ? atol(argv[1]) : 200000;
	pthread_t t;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (pthread_create(&t, NULL, other, NULL))
		return 1;
	for (long i = 0; i < rounds; i++) {
		hand_over(1);
		wait_for(0);
	}
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	fprintf(stderr, "%.0f ns per round trip\n", ns / (rounds ? rounds : 1)); /* stderr: traced, stdout is the trace's */
	return 0;
}
