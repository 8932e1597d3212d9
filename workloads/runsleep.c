// runsleep [N] [MS]: N times (default 5), run ~20 ms on the CPU, then sleep MS ms (default 1000) in
// nanosleep, called from b() <- a() <- main(). Built with plain gcc -O2: no frame pointers, so only
// DWARF unwinding finds a() and main() below libc. The slides' "why is a process blocked?" case.
#include <stdlib.h>
#include <time.h>

static void __attribute__((noinline)) burn(int ms)
{
	struct timespec s, n;
	clock_gettime(CLOCK_MONOTONIC, &s);
	volatile unsigned long x = 0;
	do {
		for (int i = 0; i < 10000; i++)
			x += i;
		clock_gettime(CLOCK_MONOTONIC, &n);
	} while ((n.tv_sec - s.tv_sec) * 1000 + (n.tv_nsec - s.tv_nsec) / 1000000 < ms);
}

void __attribute__((noinline)) b(int n, int ms)
{
	for (int i = 0; i < n; i++) {
		burn(20);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

void __attribute__((noinline)) a(int n, int ms)
{
	b(n, ms);
	__asm__ volatile("" ::: "memory"); /* not a tail call: a() stays on the stack */
}

int main(int argc, char **argv)
{
	a(argc > 1 ? atoi(argv[1]) : 5, argc > 2 ? atoi(argv[2]) : 1000);
	__asm__ volatile("" ::: "memory");
	return 0;
}
