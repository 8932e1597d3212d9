// An exit that has work to do: a child maps MB of anonymous memory in small pages, touches every
// page, and exits, so that its do_exit() tears down the mapping (exit_mm -> exit_mmap -> unmap_vmas,
// then freeing the pages and page tables: tens of ms for a few hundred MB). The parent leaves it a
// zombie (waitid WNOWAIT) and prints what the kernel charged it, now final:
//   exitmap MB  ->  stderr: "exitmap child PID oncpu_ns N"
// N is se.sum_exec_runtime from /proc/PID/schedstat (task_sched_runtime(), the scheduler's own
// count), read again until two reads 20 ms apart agree: a zombie's figure stops growing at its
// final switch, which may come a little after its parent was told.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long schedstat(pid_t pid)
{
	char path[64];
	unsigned long long ns = 0;
	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	FILE *f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	if (f)
		fclose(f);
	return ns;
}

int main(int argc, char **argv)
{
	if (argc != 2 || atol(argv[1]) <= 0)
		return fprintf(stderr, "usage: exitmap MB\n"), 2;
	size_t bytes = (size_t)atol(argv[1]) << 20;
	long page = sysconf(_SC_PAGESIZE);

	pid_t child = fork();
	if (child < 0)
		return perror("fork"), 1;
	if (child == 0) {
		char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(1);
		/* small pages: a huge page is one entry to unmap, and the teardown would be over at once */
		madvise(m, bytes, MADV_NOHUGEPAGE);
		for (size_t off = 0; off < bytes; off += page)
			m[off] = 1;
		exit(0); /* the mapping goes in do_exit(), not in a munmap of our own */
	}

	siginfo_t info;
	if (waitid(P_PID, child, &info, WEXITED | WNOWAIT))
		return perror("waitid"), 1;
	unsigned long long ns = schedstat(child), again;
	for (int i = 0; i < 50; i++, ns = again) {
		struct timespec d = { 0, 20 * 1000 * 1000 };
		nanosleep(&d, NULL);
		again = schedstat(child);
		if (again == ns)
			break;
	}
	fprintf(stderr, "exitmap child %d oncpu_ns %llu\n", child, ns);
	if (waitpid(child, NULL, 0) != child)
		return perror("waitpid"), 1;
	return info.si_code == CLD_EXITED && info.si_status == 0 ? 0 : 1;
}
