// The sample workload `make demo` traces: a small process with a life worth looking at. It runs and
// sleeps (on/off-CPU), starts a thread that contends a mutex with main, forks children that end in
// different ways (an exit code, a signal, an exec), and makes a pattern of syscalls and file I/O.
// Built with plain gcc -O2 (no frame pointers), like most software.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void burn_ms(int ms)
{
	struct timespec s, n;
	clock_gettime(CLOCK_MONOTONIC, &s);
	volatile unsigned long x = 0;
	do {
		for (int i = 0; i < 10000; i++)
			x += i;
		clock_gettime(CLOCK_MONOTONIC, &n);
	} while ((n.tv_sec - s.tv_sec) * 1000 + (n.tv_nsec - s.tv_nsec) / 1000000 < ms);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *worker(void *arg)
{
	for (int i = 0; i < 20; i++) {
		pthread_mutex_lock(&lock);
		burn_ms(2);
		pthread_mutex_unlock(&lock);
		sleep_ms(1);
	}
	return arg;
}

static void file_io(void)
{
	char path[] = "/tmp/procimage-demo-XXXXXX", buf[64 << 10];
	int fd = mkstemp(path);
	if (fd < 0)
		return;
	memset(buf, 'x', sizeof buf);
	for (int i = 0; i < 64; i++) /* 4 MiB written, then read back */
		if (write(fd, buf, sizeof buf) < 0)
			break;
	lseek(fd, 0, SEEK_SET);
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
	unlink(path);
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	for (int i = 0; i < 20; i++) {
		pthread_mutex_lock(&lock);
		burn_ms(2);
		pthread_mutex_unlock(&lock);
		sleep_ms(1);
	}
	pthread_join(t, NULL);
	file_io();

	pid_t a = fork();
	if (a == 0) { burn_ms(20); _exit(3); }                            /* exits with a code */
	pid_t b = fork();
	if (b == 0) { pause(); _exit(0); }                                /* killed by a signal */
	pid_t c = fork();
	if (c == 0) { execl("/bin/true", "true", (char *)NULL); _exit(127); } /* becomes another program */

	for (int i = 0; i < 3; i++) { /* run, then block: the off-CPU intervals */
		burn_ms(20);
		sleep_ms(200);
	}
	kill(b, SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}
