// lifeloop CMD [ARGS...]: a long-lived process with a bit of every category, for the exporter's test
// (test/metrics.test.ts) — it runs until killed:
//  - two threads take one pthread mutex in turn, holding it ~1 ms: contended acquisitions, futex waits;
//  - main, in a loop: runs /bin/true, then CMD ARGS (fork + exec + wait: forks, execs, exits), and
//    opens a file that does not exist (a syscall that fails with ENOENT).
// Plain gcc -O2, like most software.
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

static void *contend(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&lock);
		sleep_us(1000); /* held while asleep: the other thread waits in the kernel */
		pthread_mutex_unlock(&lock);
		sleep_us(200);
	}
	return arg;
}

static void run(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, contend, NULL);
	char *true_argv[] = { "/bin/true", NULL };
	for (;;) {
		run(true_argv);
		run(argv + 1);
		int fd = open("/nonexistent/procimage-lifeloop", O_RDONLY);
		if (fd >= 0)
			close(fd);
	}
}
