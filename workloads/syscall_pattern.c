// syscall_pattern K: K times, in this order, six syscalls the dynamic loader and libc start-up never
// make, so that their counts are exactly K (chdir fails every time, with ENOENT):
//   getppid, chdir("/nonexistent/procimage"), getcwd, dup(0), close(that fd), sched_yield
// All through syscall(2): glibc could cache or reroute its wrappers some day.
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long k = argc > 1 ? atol(argv[1]) : 100;
	char buf[256];
	for (long i = 0; i < k; i++) {
		syscall(SYS_getppid);
		syscall(SYS_chdir, "/nonexistent/procimage");
		syscall(SYS_getcwd, buf, sizeof(buf));
		long fd = syscall(SYS_dup, 0);
		syscall(SYS_close, fd);
		syscall(SYS_sched_yield);
	}
	return 0;
}
