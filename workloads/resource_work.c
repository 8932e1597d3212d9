// A process whose resource use is known: the resource tests run it and compare what procimage reports
// with what it did and with what /proc says about it. Steps run in the order given:
//
//   cpu MS              burn MS ms of CPU time (user mode) in the main thread
//   threads N MS        start N threads that each burn MS ms of CPU, and join them (they are dead after)
//   idle N MS           start N threads that each burn MS ms of CPU, then block for good (alive to the end)
//   alloc MB            allocate MB MiB of anonymous memory and touch every page (kept to the end)
//   write MB FILE       write MB MiB to FILE in 1 MiB write(2)s, then fsync it
//   read MB FILE        drop FILE's pages from the page cache, then read MB MiB of it (from storage)
//   sleep MS            sleep
//   report              print {"rchar":..., ...} from /proc/self/io and /proc/self/stat (its own view)
//   stop                raise(SIGSTOP): frozen, so /proc and procimage can be compared at leisure
//   exit                exit at once (the default at the end)
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double cputime_ms(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static volatile unsigned long sink;

/* Spins until this thread has used ms of CPU: the same CPU time whatever else the machine runs. */
static void burn(double ms)
{
	double end = cputime_ms(CLOCK_THREAD_CPUTIME_ID) + ms;
	while (cputime_ms(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 100000; i++)
			sink += i;
}

static void *thread_burn(void *arg)
{
	burn(*(double *)arg);
	return NULL;
}

static void *thread_idle(void *arg)
{
	burn(*(double *)arg);
	for (;;)
		pause();
	return NULL;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void write_file(long mb, const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(path);
	memset(buf, 'x', sizeof(buf));
	for (long i = 0; i < mb; i++)
		if (write(fd, buf, sizeof(buf)) != sizeof(buf))
			die("write");
	if (fsync(fd))
		die("fsync");
	close(fd);
}

static void read_file(long mb, const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path);
	/* written pages may still be cached: written back first, then dropped, so the read hits storage */
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	for (long i = 0; i < mb; i++)
		if (read(fd, buf, sizeof(buf)) <= 0)
			die("read");
	close(fd);
}

static void report(void)
{
	char buf[4096];
	FILE *f = fopen("/proc/self/io", "r");
	unsigned long long v[7] = {0};
	if (!f)
		die("/proc/self/io");
	if (fscanf(f, "rchar: %llu\nwchar: %llu\nsyscr: %llu\nsyscw: %llu\nread_bytes: %llu\nwrite_bytes: %llu\n"
		   "cancelled_write_bytes: %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 7)
		die("parse /proc/self/io");
	fclose(f);
	f = fopen("/proc/self/stat", "r");
	if (!f || !fgets(buf, sizeof(buf), f))
		die("/proc/self/stat");
	fclose(f);
	long rss_kb = -1;
	f = fopen("/proc/self/status", "r");
	if (!f)
		die("/proc/self/status");
	char line[256]; /* buf still holds the stat line, parsed below */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &rss_kb) == 1)
			break;
	fclose(f);
	/* fields after "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	unsigned long minflt, majflt, utime, stime;
	char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %lu %*u %lu %*u %lu %lu", &minflt, &majflt, &utime, &stime) != 4)
		die("parse /proc/self/stat");
	printf("{\"rchar\":%llu,\"wchar\":%llu,\"syscr\":%llu,\"syscw\":%llu,\"read_bytes\":%llu,\"write_bytes\":%llu,"
	       "\"cancelled_write_bytes\":%llu,\"minflt\":%lu,\"majflt\":%lu,\"utime_ticks\":%lu,\"stime_ticks\":%lu,"
	       "\"ticks_per_s\":%ld,\"cpu_ns\":%.0f,\"rss_bytes\":%ld}\n", v[0], v[1], v[2], v[3], v[4], v[5], v[6], minflt, majflt,
	       utime, stime, sysconf(_SC_CLK_TCK), cputime_ms(CLOCK_PROCESS_CPUTIME_ID) * 1e6, rss_kb * 1024);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "cpu") && i + 1 < argc) {
			burn(atof(argv[++i]));
		} else if (!strcmp(s, "threads") && i + 2 < argc) {
			int n = atoi(argv[++i]);
			double ms = atof(argv[++i]);
			pthread_t t[64];
			if (n > 64)
				n = 64;
			for (int k = 0; k < n; k++)
				if (pthread_create(&t[k], NULL, thread_burn, &ms))
					die("pthread_create");
			for (int k = 0; k < n; k++)
				pthread_join(t[k], NULL);
		} else if (!strcmp(s, "idle") && i + 2 < argc) {
			int n = atoi(argv[++i]);
			static double ms;
			ms = atof(argv[++i]);
			for (int k = 0; k < n; k++) {
				pthread_t t;
				if (pthread_create(&t, NULL, thread_idle, &ms))
					die("pthread_create");
			}
			usleep(ms * 2000 + 50000); /* let them burn before the next step (best effort) */
		} else if (!strcmp(s, "alloc") && i + 1 < argc) {
			size_t bytes = (size_t)atol(argv[++i]) << 20;
			char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				die("mmap");
			for (size_t off = 0; off < bytes; off += 4096)
				m[off] = 1;
		} else if (!strcmp(s, "write") && i + 2 < argc) {
			long mb = atol(argv[++i]);
			write_file(mb, argv[++i]);
		} else if (!strcmp(s, "read") && i + 2 < argc) {
			long mb = atol(argv[++i]);
			read_file(mb, argv[++i]);
		} else if (!strcmp(s, "sleep") && i + 1 < argc) {
			usleep(atol(argv[++i]) * 1000);
		} else if (!strcmp(s, "report")) {
			report();
		} else if (!strcmp(s, "stop")) {
			raise(SIGSTOP);
		} else if (!strcmp(s, "exit")) {
			break;
		} else {
			fprintf(stderr, "resource_work: bad step '%s' (see the comment at the top of resource_work.c)\n", s);
			return 2;
		}
	}
	return 0;
}
