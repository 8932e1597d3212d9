// deeprec DEPTH [N] [MS]: recurses DEPTH calls deep through rec(), each frame holding a 200-byte
// buffer (256 bytes a frame with Debian's gcc -O2, no frame pointers), and at the bottom sleeps MS
// ms (default 100) N times (default 1) in nanosleep. 100 deep is 25 KiB of stack: more than
// keytime's DWARF capture copies, so the unwind runs out of copied stack before main. 10 deep fits.
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int n_sleeps = 1, ms = 100;

int __attribute__((noinline)) rec(int depth)
{
	volatile char buf[200];
	memset((char *)buf, depth, sizeof(buf));
	if (depth == 0) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		for (int i = 0; i < n_sleeps; i++)
			nanosleep(&ts, NULL);
		return buf[0];
	}
	int r = rec(depth - 1) + buf[1]; /* used after the call: not a tail call */
	__asm__ volatile("" ::: "memory");
	return r;
}

int main(int argc, char **argv)
{
	int depth = argc > 1 ? atoi(argv[1]) : 100;
	if (argc > 2)
		n_sleeps = atoi(argv[2]);
	if (argc > 3)
		ms = atoi(argv[3]);
	int r = rec(depth);
	__asm__ volatile("" ::: "memory");
	return r & 0;
}
