// syscalls N [SLEEP_MS]: calls getppid() N times (a cheap syscall with a known number: 110 on
// x86_64), then sleeps SLEEP_MS and exits. A known, exact syscall pattern for the tests.
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int ms = argc > 2 ? atoi(argv[2]) : 0;
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid); /* not getppid(): glibc could cache it some day */
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	if (ms)
		nanosleep(&ts, NULL);
	return 0;
}
