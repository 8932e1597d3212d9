// wakechain MODE [N]: who wakes whom, for the waker tests (test/waker.test.ts).
//   pingpong N  two processes pass a byte back and forth over two pipes N times, each on its own CPU
//               (the parent on CPU 0, the child on CPU 1): every read sleeps, and is woken by the
//               other's write (ping() and pong() are the functions at the writes).
//   chain       three threads: A reads a pipe that B writes once B has the mutex that C holds while
//               it sleeps 100 ms: A waits for B, which waits for C, which waits for its timer.
//   migrate N   a thread moves between CPU 0 and CPU 1 N times (sched_setaffinity), pinned to one CPU
//               before it starts: exactly N migrations of that thread.
//   holder N    a thread (holder) takes a mutex, lets another (waiter) ask for it, and holds it 2 ms
//               more once the waiter is blocked in it (the mutex word says so), N times.
//   condvar N   a producer hands N items to a consumer through a pthread mutex + condition variable,
//               one every 2 ms: each wait of the consumer is ended by the producer.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

/* Not inlined: the writes that wake the other side are in these frames. */
__attribute__((noinline)) static int ping(int fd, char *c)
{
	return write(fd, c, 1) == 1;
}

__attribute__((noinline)) static int pong(int fd, char *c)
{
	char d = *c + 1; /* not ping's body: gcc would fold the two into one function */

	return write(fd, &d, 1) == 1;
}

static int pingpong(long n)
{
	int ab[2], ba[2];
	char c = 0;

	if (pipe(ab) || pipe(ba))
		return 1;
	pid_t child = fork();
	if (child == 0) {
		pin(1);
		for (long i = 0; i < n; i++)
			if (read(ab[0], &c, 1) != 1 || !pong(ba[1], &c))
				_exit(1);
		_exit(0);
	}
	pin(0);
	sleep_ms(20); /* the child is pinned and reading before the first ping */
	for (long i = 0; i < n; i++) {
		if (!ping(ab[1], &c) || read(ba[0], &c, 1) != 1)
			return 1;
		sleep_ms(1); /* the child is surely asleep in its read before the next ping */
	}
	int st;
	waitpid(child, &st, 0);
	return !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int chain_pipe[2];
static int c_holds[2]; /* C tells B it holds the mutex */

static void *chain_c(void *arg)
{
	char x = 0;

	pthread_setname_np(pthread_self(), "chain-c"); /* itself, before its first sleep */
	pthread_mutex_lock(&mu);
	if (write(c_holds[1], &x, 1) != 1)
		exit(1);
	sleep_ms(100);
	pthread_mutex_unlock(&mu);
	return NULL;
}

__attribute__((noinline)) static void chain_b_write(void)
{
	char x = 0;

	if (write(chain_pipe[1], &x, 1) != 1)
		exit(1);
}

static void *chain_b(void *arg)
{
	char x;

	pthread_setname_np(pthread_self(), "chain-b");
	if (read(c_holds[0], &x, 1) != 1)
		exit(1);
	pthread_mutex_lock(&mu); /* C has it, and sleeps 100 ms */
	pthread_mutex_unlock(&mu);
	chain_b_write();
	return NULL;
}

static int chain(void)
{
	pthread_t b, c;
	char x;

	if (pipe(chain_pipe) || pipe(c_holds))
		return 1;
	pthread_setname_np(pthread_self(), "chain-a");
	pthread_create(&b, NULL, chain_b, NULL);
	sleep_ms(10); /* B waits for C's word before C exists */
	pthread_create(&c, NULL, chain_c, NULL);
	if (read(chain_pipe[0], &x, 1) != 1) /* A waits for B */
		return 1;
	pthread_join(b, NULL);
	pthread_join(c, NULL);
	return 0;
}

static void *mover(void *arg)
{
	long n = *(long *)arg;

	pthread_setname_np(pthread_self(), "mover");
	for (long i = 0; i < n; i++)
		pin(i % 2 == 0 ? 1 : 0);
	return NULL;
}

static int migrate(long n)
{
	pthread_t t;

	pin(0); /* the thread starts where its parent is, and may only be there */
	pthread_create(&t, NULL, mover, &n);
	pthread_join(t, NULL);
	return 0;
}

static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long items, taken, total;

static void *consumer(void *arg)
{
	pthread_setname_np(pthread_self(), "consumer");
	pthread_mutex_lock(&mu);
	while (taken < total) {
		while (items == 0)
			pthread_cond_wait(&cv, &mu);
		items--;
		taken++;
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

static int condvar(long n)
{
	pthread_t t;

	total = n;
	pthread_setname_np(pthread_self(), "producer");
	pthread_create(&t, NULL, consumer, NULL);
	for (long i = 0; i < n; i++) {
		sleep_ms(2);
		pthread_mutex_lock(&mu);
		items++;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
	}
	pthread_join(t, NULL);
	return 0;
}

static int hold_pipe[2], done_pipe[2];

static void *waiter(void *arg)
{
	long n = *(long *)arg;
	char x = 0;

	pthread_setname_np(pthread_self(), "waiter");
	for (long i = 0; i < n; i++) {
		if (read(hold_pipe[0], &x, 1) != 1)
			exit(1);
		pthread_mutex_lock(&mu); /* the holder has it */
		pthread_mutex_unlock(&mu);
		if (write(done_pipe[1], &x, 1) != 1) /* the next round waits for this one's end */
			exit(1);
	}
	return NULL;
}

static int holder(long n)
{
	pthread_t t;
	char x = 0;

	pthread_setname_np(pthread_self(), "holder");
	if (pipe(hold_pipe) || pipe(done_pipe))
		return 1;
	pthread_create(&t, NULL, waiter, &n);
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&mu);
		if (write(hold_pipe[1], &x, 1) != 1)
			return 1;
		/* glibc's __lock: 2 once a waiter has marked it contended on its way to sleep in it */
		while (__atomic_load_n(&mu.__data.__lock, __ATOMIC_ACQUIRE) != 2)
			sleep_ms(1);
		sleep_ms(2);
		pthread_mutex_unlock(&mu);
		if (read(done_pipe[0], &x, 1) != 1) /* the waiter took it and let it go: no round overlaps the next */
			return 1;
	}
	pthread_join(t, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 10;

	if (!strcmp(mode, "pingpong"))
		return pingpong(n);
	if (!strcmp(mode, "chain"))
		return chain();
	if (!strcmp(mode, "migrate"))
		return migrate(n);
	if (!strcmp(mode, "condvar"))
		return condvar(n);
	if (!strcmp(mode, "holder"))
		return holder(n);
	fprintf(stderr, "usage: wakechain pingpong|chain|migrate|condvar|holder [N]\n");
	return 2;
}
