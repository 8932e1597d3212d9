// wakeups N USEC: sleeps USEC microseconds N times: N wakeups, each followed by a scheduling delay
// until the thread runs again. A target for the scheduling-delay tests.
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	long us = argc > 2 ? atol(argv[2]) : 500;
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	for (int i = 0; i < n; i++)
		nanosleep(&ts, NULL);
	return 0;
}
