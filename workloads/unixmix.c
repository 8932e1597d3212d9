// unixmix SECONDS [TEST...]: a UnixBench-style mix, each test run for SECONDS and reported as
// operations per second, one "name ops_per_s" line per test. The tests follow UnixBench's own
// (byte-unixbench: dhry2reg, syscall, pipe, context1, spawn, execl, fstime), small enough to
// run in a benchmark round:
//   dhry     integer arithmetic and branches, no syscalls (CPU only)
//   syscall  getpid + getuid + umask round, as UnixBench's "syscall" test (rounds)
//   pipe     512-byte write then read on one pipe, one process (pairs)
//   context  two processes passing an increasing integer over two pipes (round trips)
//   spawn    fork, the child exits at once, waitpid (processes)
//   execl    a process execs itself down a chain of 16 (execs)
//   fcopy    copy a 1 MiB page-cached file with 1 KiB reads and writes (KiB copied)
// The "execl-chain N" argument is internal: the exec chain's links.
// Each line also gives the operations per second of CPU time of the test's processes (the process's
// own and its waited-for children's, user + system): what the work cost the test itself, which
// other work on the machine, taking the CPUs meanwhile, does not change ("name ops_per_s ops_per_cpu_s").
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/* CPU time of this process and of its children waited for so far, user + system, in seconds. */
static double cpu(void)
{
	struct timespec self;
	struct rusage ch;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &self);
	getrusage(RUSAGE_CHILDREN, &ch);
	return self.tv_sec + self.tv_nsec / 1e9 + ch.ru_utime.tv_sec + ch.ru_utime.tv_usec / 1e6 + ch.ru_stime.tv_sec +
	       ch.ru_stime.tv_usec / 1e6;
}

static long last_ops;    /* the last test's operations */
static double cpu_start; /* cpu() when it started: the echo child of context is only counted once waited for */

/* Runs one() until `secs` have passed; returns its operations per second. */
static double timed(double secs, long (*one)(void))
{
	double start = now(), end = start + secs, t;
	long ops = 0;
	cpu_start = cpu();
	do {
		ops += one();
	} while ((t = now()) < end);
	last_ops = ops;
	return ops / (t - start);
}

static volatile unsigned sink;

static long dhry(void)
{
	unsigned a = 1, b = 2;
	for (int i = 0; i < 100000; i++) {
		a = a * 1103515245u + 12345u;
		if (a & 0x100)
			b += a >> 3;
		else
			b ^= a << 1;
	}
	sink = a + b;
	return 100000;
}

static long sys_round(void)
{
	for (int i = 0; i < 1000; i++) {
		syscall(SYS_getpid);
		syscall(SYS_getuid);
		umask(022);
	}
	return 1000;
}

static int pfd[2];

static long pipe_pair(void)
{
	char buf[512] = {0};
	for (int i = 0; i < 1000; i++) {
		if (write(pfd[1], buf, sizeof(buf)) != sizeof(buf) || read(pfd[0], buf, sizeof(buf)) != sizeof(buf))
			die("pipe");
	}
	return 1000;
}

static int to_child[2], to_parent[2];

static long context_round(void)
{
	static unsigned n;
	for (int i = 0; i < 100; i++) {
		unsigned got;
		n++;
		if (write(to_child[1], &n, sizeof(n)) != sizeof(n) || read(to_parent[0], &got, sizeof(got)) != sizeof(got) || got != n)
			die("context");
	}
	return 100;
}

static long spawn_one(void)
{
	pid_t p = fork();
	if (p < 0)
		die("fork");
	if (p == 0)
		_exit(0);
	if (waitpid(p, NULL, 0) != p)
		die("waitpid");
	return 1;
}

#define EXECL_CHAIN 16

static long execl_chain(void)
{
	pid_t p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		char n[16];
		snprintf(n, sizeof(n), "%d", EXECL_CHAIN);
		execl("/proc/self/exe", "unixmix", "execl-chain", n, (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("execl chain");
	return EXECL_CHAIN;
}

static char src_path[64], dst_path[64];

static long fcopy_one(void)
{
	char buf[1024];
	int in = open(src_path, O_RDONLY), out = open(dst_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	long kib = 0;
	ssize_t n;
	if (in < 0 || out < 0)
		die("fcopy open");
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, n) != n)
			die("fcopy write");
		kib++;
	}
	close(in);
	close(out);
	return kib;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "execl-chain")) {
		int left = atoi(argv[2]) - 1;
		if (left <= 0)
			return 0;
		char n[16];
		snprintf(n, sizeof(n), "%d", left);
		execl("/proc/self/exe", "unixmix", "execl-chain", n, (char *)NULL);
		return 127;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: unixmix SECONDS [dhry syscall pipe context spawn execl fcopy]\n");
		return 2;
	}
	double secs = atof(argv[1]);
	const char *all[] = {"dhry", "syscall", "pipe", "context", "spawn", "execl", "fcopy"};
	const char **tests = argc > 2 ? (const char **)argv + 2 : all;
	int ntests = argc > 2 ? argc - 2 : (int)(sizeof(all) / sizeof(all[0]));

	for (int i = 0; i < ntests; i++) {
		const char *t = tests[i];
		double r;
		if (!strcmp(t, "dhry")) {
			r = timed(secs, dhry);
		} else if (!strcmp(t, "syscall")) {
			r = timed(secs, sys_round);
		} else if (!strcmp(t, "pipe")) {
			if (pipe(pfd))
				die("pipe");
			r = timed(secs, pipe_pair);
			close(pfd[0]);
			close(pfd[1]);
		} else if (!strcmp(t, "context")) {
			if (pipe(to_child) || pipe(to_parent))
				die("pipe");
			pid_t c = fork();
			if (c < 0)
				die("fork");
			if (c == 0) { /* echo back what comes, until the pipe closes */
				unsigned v;
				close(to_child[1]);
				close(to_parent[0]);
				while (read(to_child[0], &v, sizeof(v)) == sizeof(v))
					if (write(to_parent[1], &v, sizeof(v)) != sizeof(v))
						_exit(1);
				_exit(0);
			}
			close(to_child[0]);
			close(to_parent[1]);
			r = timed(secs, context_round);
			close(to_child[1]); /* the child's read sees the end */
			waitpid(c, NULL, 0);
			close(to_parent[0]);
		} else if (!strcmp(t, "spawn")) {
			r = timed(secs, spawn_one);
		} else if (!strcmp(t, "execl")) {
			r = timed(secs, execl_chain);
		} else if (!strcmp(t, "fcopy")) {
			snprintf(src_path, sizeof(src_path), "/tmp/unixmix-src-%d", getpid());
			snprintf(dst_path, sizeof(dst_path), "/tmp/unixmix-dst-%d", getpid());
			int f = open(src_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			char block[1024];
			memset(block, 'x', sizeof(block));
			for (int k = 0; f >= 0 && k < 1024; k++)
				if (write(f, block, sizeof(block)) != sizeof(block))
					die("fcopy source");
			if (f < 0)
				die("fcopy source");
			close(f);
			r = timed(secs, fcopy_one);
			unlink(src_path);
			unlink(dst_path);
		} else {
			fprintf(stderr, "unixmix: unknown test %s\n", t);
			return 2;
		}
		printf("%s %.1f %.1f\n", t, r, last_ops / (cpu() - cpu_start));
		fflush(stdout);
	}
	return 0;
}
