// What top, ps and process-exporter do for the figures procimage's resource category gathers: scan
// /proc every interval — each process's stat, status and io, and each of its threads' — and parse
// them. The benchmark's yardstick for a /proc scan of every thread, written to cost as little as C can.
//   procscan INTERVAL_MS SAMPLES   (prints {"samples":..,"threads":..,"scan_ms":..} at the end)
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static unsigned long long checksum; /* every number parsed goes here: nothing is read for nothing */

/* Reads a small /proc file and adds up every number in it, as a parser that keeps them would touch them. */
static int slurp(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (char *p = buf; *p;) {
		if (*p >= '0' && *p <= '9')
			checksum += strtoull(p, &p, 10);
		else
			p++;
	}
	return 0;
}

static int scan_dir(const char *dir)
{
	char path[512];
	static const char *files[] = { "stat", "status", "io" };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		slurp(path);
	}
	return 0;
}

/* One scan: every process, then every thread of it. Returns the number of threads. */
static int scan(void)
{
	int threads = 0;
	DIR *proc = opendir("/proc");
	struct dirent *d;
	char dir[300], tdir[600];
	while ((d = readdir(proc))) {
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(dir, sizeof(dir), "/proc/%s", d->d_name);
		scan_dir(dir);
		snprintf(tdir, sizeof(tdir), "%s/task", dir);
		DIR *task = opendir(tdir);
		if (!task)
			continue;
		struct dirent *t;
		while ((t = readdir(task))) {
			if (t->d_name[0] < '0' || t->d_name[0] > '9')
				continue;
			char tpath[900];
			snprintf(tpath, sizeof(tpath), "%s/%s", tdir, t->d_name);
			scan_dir(tpath);
			threads++;
		}
		closedir(task);
	}
	closedir(proc);
	return threads;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fprintf(stderr, "usage: procscan INTERVAL_MS SAMPLES\n"), 2;
	int interval = atoi(argv[1]), samples = atoi(argv[2]), threads = 0;
	double spent = 0;
	for (int i = 0; i < samples; i++) {
		double t0 = now_ms();
		threads = scan();
		spent += now_ms() - t0;
		if (i + 1 < samples)
			usleep(interval * 1000);
	}
	printf("{\"samples\":%d,\"threads\":%d,\"scan_ms\":%.3f,\"checksum\":%llu}\n", samples, threads, spent / samples, checksum % 1000);
	return 0;
}
