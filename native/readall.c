// SPDX-License-Identifier: GPL-2.0
/*
 * Reads a whole file into the caller's buffer in one call, for files of the kind /proc serves
 * (src/sys/libc.ts, readWholeFile). Their size is unknown and every read() returns about a page:
 * /proc/kallsyms (5 MB) is ~1300 reads. Through Node's async fs, each read is a round trip between
 * libuv's pool and the event loop, 2-3 times slower than the reads themselves; called through koffi's
 * .async, this loop runs on a pool thread in one go.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>

/* Returns the bytes read, or -errno; cap bytes read means the file may go on (call again, larger). */
long pi_read_all(const char *path, void *out, size_t cap)
{
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (n < cap) {
		ssize_t r = read(fd, (char *)out + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;
			close(fd);
			return -err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	return (long)n;
}
