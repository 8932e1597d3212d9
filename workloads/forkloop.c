// forkloop N: forks N children, one at a time, each exiting at once with status i % 256; then
// exits 0. Exactly N forks and N + 1 process exits, for the event-accounting tests.
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p == 0)
			_exit(i % 256);
		if (p > 0)
			waitpid(p, NULL, 0);
	}
	return 0;
}
