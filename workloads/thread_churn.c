// thread_churn T K: starts T threads one after another, each calling getppid() K times and exiting
// before the next starts. Their kernel stacks are freed and reused by the threads (of any process)
// created next: the syscall tests check that no thread is confused with the one before it.
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static long k;

static void *worker(void *arg)
{
	for (long i = 0; i < k; i++)
		syscall(SYS_getppid);
	return arg;
}

int main(int argc, char **argv)
{
	long t = argc > 1 ? atol(argv[1]) : 100;
	k = argc > 2 ? atol(argv[2]) : 100;
	for (long i = 0; i < t; i++) {
		pthread_t th;
		if (pthread_create(&th, NULL, worker, NULL))
			return 1;
		pthread_join(th, NULL);
	}
	return 0;
}
