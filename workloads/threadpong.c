// threadpong SECONDS: two threads of one process pass an integer back and forth over two pipes for
// SECONDS, then print the round trips per second. Pinned to one CPU (taskset), every message is a
// wakeup and a context switch of the target itself: the switch-heavy target of the peer study
// (bench/peers.ts), one process, so that tools that filter by process (offcputime -p, runqlat -p)
// see all of it. Plain gcc -O2, no frame pointers.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int to_pong[2], to_ping[2];

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Echoes what comes until the pipe closes. */
static void *pong(void *arg)
{
	unsigned v;
	(void)arg;
	while (read(to_pong[0], &v, sizeof(v)) == sizeof(v))
		if (write(to_ping[1], &v, sizeof(v)) != sizeof(v))
			exit(1);
	return NULL;
}

/* Sends 100 numbers, each waiting for its echo. */
static __attribute__((noinline)) long ping_100(void)
{
	static unsigned n;
	for (int i = 0; i < 100; i++) {
		unsigned got;
		n++;
		if (write(to_pong[1], &n, sizeof(n)) != sizeof(n) || read(to_ping[0], &got, sizeof(got)) != sizeof(got) || got != n)
			exit(1);
	}
	return 100;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: threadpong SECONDS\n");
		return 2;
	}
	double secs = atof(argv[1]);
	pthread_t t;
	if (pipe(to_pong) || pipe(to_ping) || pthread_create(&t, NULL, pong, NULL))
		return 1;
	double start = now(), end = start + secs, at;
	long trips = 0;
	do
		trips += ping_100();
	while ((at = now()) < end);
	close(to_pong[1]);
	pthread_join(t, NULL);
	printf("%.0f\n", trips / (at - start));
	return 0;
}
