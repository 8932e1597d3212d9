// SPDX-License-Identifier: GPL-2.0
/*
 * procimage-gate FD CMD [ARGS...]: waits until one byte arrives on FD, then execs CMD.
 *
 * `procimage trace -- CMD` starts this, makes its pid the target, and only then opens the gate, so
 * CMD's exec is the first thing of its life procimage sees and nothing before activation is missed.
 * If FD closes without a byte (procimage failed), it exits without running CMD.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char c;
	ssize_t n;

	if (argc < 3) {
		fprintf(stderr, "usage: procimage-gate FD CMD [ARGS...]\n");
		return 127;
	}
	int fd = atoi(argv[1]);
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return 127;
	close(fd);
	execvp(argv[2], argv + 2);
	fprintf(stderr, "procimage: cannot run %s: %s\n", argv[2], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
