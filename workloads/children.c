// children: forks three children that exit 3, 5 and 7, and a fourth that the parent kills with
// SIGKILL; waits for all, then exits 2. The fork/exit case, with known answers.
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	static const int codes[] = { 3, 5, 7 };
	for (int i = 0; i < 3; i++)
		if (fork() == 0)
			_exit(codes[i]);
	pid_t victim = fork();
	if (victim == 0) {
		pause();
		_exit(0);
	}
	struct timespec ts = { 0, 50 * 1000000L };
	nanosleep(&ts, NULL);
	kill(victim, SIGKILL);
	while (wait(NULL) > 0)
		;
	return 2;
}
