// forkexit: forks three children that exit 10, 11 and 12 (each after ~50 ms, so that each has a life
// of its own on the timeline), waits for them, then exits 0. The page's process-tree case.
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	for (int code = 10; code <= 12; code++) {
		if (fork() == 0) {
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
			_exit(code);
		}
	}
	while (wait(NULL) > 0)
		;
	return 0;
}
