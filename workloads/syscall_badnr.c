// syscall_badnr K: K times, in this order, three syscall numbers no kernel table has: 1000 (past
// the table), -1 (the number the kernel itself uses for "no syscall") and 0x7fffffff (the largest a
// 32-bit number can be; x32's bit set too). Each should fail with ENOSYS; the workload counts the
// calls that did and prints them as one JSON line: {"1000":N,"-1":N,"2147483647":N}.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long k = argc > 1 ? atol(argv[1]) : 100;
	const long nrs[] = { 1000, -1, 0x7fffffff };
	long enosys[3] = { 0 };
	for (long i = 0; i < k; i++)
		for (int j = 0; j < 3; j++)
			if (syscall(nrs[j]) == -1 && errno == ENOSYS)
				enosys[j]++;
	printf("{\"%ld\":%ld,\"%ld\":%ld,\"%ld\":%ld}\n", nrs[0], enosys[0], nrs[1], enosys[1], nrs[2], enosys[2]);
	return 0;
}
