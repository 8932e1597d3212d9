// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/kallsyms into the compact index src/model/kallsyms.ts keeps (through src/sys/libc.ts): per
 * symbol the low 32 bits of its address (every kernel address lies at 0xffffffff00000000 and up),
 * its type letter, and where its line's text ("name" or "name\t[module]") lies in one byte string.
 *
 * Done here rather than in JS because it is on the start-up path of every trace that names kernel
 * frames: the kernel formats ~120k lines (5 MB, ~50 ms), which a parser in JS, run once and so never
 * warmed up, took another 30-60 ms on the main thread to index. Here the read and the index are one
 * call on libuv's pool (koffi's .async), a few ms past the read itself.
 *
 * Lines are "ffffffff81000000 T _stext" or "ffffffffc0001000 t mod_fn\t[mymod]"; any other line
 * (kptr_restrict's zeroes, per-CPU offsets below 0xffffffff00000000, a short or malformed one) is
 * skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pi_ksyms {
	uint64_t err;       /* an errno: nothing was indexed (whatever thread the call ran on) */
	uint64_t n;         /* symbols */
	uint64_t names_len; /* bytes of names used */
	uint64_t data;      /* data symbols (d D b B r R) among them */
	uint32_t *lo;
	uint8_t *type;
	uint32_t *name_at;
	uint16_t *name_len;
	uint8_t *names;
};

void pi_ksyms_free(struct pi_ksyms *k)
{
	if (!k)
		return;
	free(k->lo);
	free(k->type);
	free(k->name_at);
	free(k->name_len);
	free(k->names);
	free(k);
}

static int hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_data(uint8_t t)
{
	return t == 'd' || t == 'D' || t == 'b' || t == 'B' || t == 'r' || t == 'R';
}

/* Room for one more symbol and len more bytes of names. */
static int reserve(struct pi_ksyms *k, size_t *cap, size_t *names_cap, size_t len)
{
	if (k->n == *cap) {
		size_t c = *cap ? *cap * 2 : 1 << 17;
		void *lo = realloc(k->lo, c * 4), *type = realloc(k->type, c), *at = realloc(k->name_at, c * 4),
		     *nl = realloc(k->name_len, c * 2);
		if (lo)
			k->lo = lo;
		if (type)
			k->type = type;
		if (at)
			k->name_at = at;
		if (nl)
			k->name_len = nl;
		if (!lo || !type || !at || !nl)
			return -ENOMEM;
		*cap = c;
	}
	if (k->names_len + len > *names_cap) {
		size_t c = *names_cap ? *names_cap * 2 : 4 << 20;
		while (c < k->names_len + len)
			c *= 2;
		void *names = realloc(k->names, c);
		if (!names)
			return -ENOMEM;
		k->names = names;
		*names_cap = c;
	}
	return 0;
}

/* Indexes one line (without its newline). */
static int line(struct pi_ksyms *k, size_t *cap, size_t *names_cap, const uint8_t *s, size_t len)
{
	uint32_t hi = 0, lo = 0;

	if (len < 20 || s[16] != ' ' || s[18] != ' ')
		return 0;
	for (int i = 0; i < 16; i++) {
		int v = hex(s[i]);
		if (v < 0)
			return 0;
		if (i < 8)
			hi = hi << 4 | (uint32_t)v;
		else
			lo = lo << 4 | (uint32_t)v;
	}
	if (hi != 0xffffffff)
		return 0;
	size_t name = len - 19 < 0xffff ? len - 19 : 0xffff;
	int err = reserve(k, cap, names_cap, name);
	if (err)
		return err;
	k->lo[k->n] = lo;
	k->type[k->n] = s[17];
	k->name_at[k->n] = (uint32_t)k->names_len;
	k->name_len[k->n] = (uint16_t)name;
	memcpy(k->names + k->names_len, s + 19, name);
	k->names_len += name;
	k->data += is_data(s[17]);
	k->n++;
	return 0;
}

/*
 * Indexes kallsyms text read piece by piece by `more` (bytes into buf, 0 at the end, < 0 -errno).
 * On failure, an index holding only its errno; NULL only when not even that could be allocated.
 */
static struct pi_ksyms *index_text(long (*more)(void *ctx, uint8_t *buf, size_t cap), void *ctx)
{
	struct pi_ksyms *k = calloc(1, sizeof(*k));
	size_t cap = 0, names_cap = 0, held = 0, bufcap = 256 << 10;
	uint8_t *buf = malloc(bufcap);
	int err = 0;

	if (!k) {
		free(buf);
		return NULL;
	}
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (held == bufcap) { /* a line longer than the buffer */
			uint8_t *bigger = realloc(buf, bufcap * 2);
			if (!bigger) {
				err = -ENOMEM;
				goto out;
			}
			buf = bigger;
			bufcap *= 2;
		}
		long r = more(ctx, buf + held, bufcap - held);
		if (r < 0) {
			err = (int)r;
			goto out;
		}
		size_t end = held + (size_t)r, start = 0;
		for (uint8_t *nl; (nl = memchr(buf + start, '\n', end - start)); start = (size_t)(nl - buf) + 1) {
			err = line(k, &cap, &names_cap, buf + start, (size_t)(nl - buf) - start);
			if (err)
				goto out;
		}
		if (r == 0) { /* the end: a last line without a newline */
			if (start < end)
				err = line(k, &cap, &names_cap, buf + start, end - start);
			goto out;
		}
		memmove(buf, buf + start, end - start);
		held = end - start;
	}
out:
	free(buf);
	if (err) {
		struct pi_ksyms *failed = calloc(1, sizeof(*failed));
		pi_ksyms_free(k);
		if (failed)
			failed->err = (uint64_t)-err;
		return failed;
	}
	return k;
}

static struct pi_ksyms *failure(int err)
{
	struct pi_ksyms *k = calloc(1, sizeof(*k));

	if (k)
		k->err = (uint64_t)err;
	return k;
}

static long read_fd(void *ctx, uint8_t *buf, size_t cap)
{
	for (;;) {
		ssize_t r = read(*(int *)ctx, buf, cap);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -errno;
	}
}

struct text {
	const uint8_t *p;
	size_t len, pos;
};

static long read_text(void *ctx, uint8_t *buf, size_t cap)
{
	struct text *t = ctx;
	size_t n = t->len - t->pos < cap ? t->len - t->pos : cap;

	memcpy(buf, t->p + t->pos, n);
	t->pos += n;
	return (long)n;
}

/* Reads and indexes a kallsyms file (/proc/kallsyms); its err set on failure (NULL: out of memory). */
struct pi_ksyms *pi_ksyms_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct pi_ksyms *k;

	if (fd < 0)
		return failure(errno);
	k = index_text(read_fd, &fd);
	close(fd);
	return k;
}

/* Indexes kallsyms text held in memory (fixtures, tests). */
struct pi_ksyms *pi_ksyms_parse(const uint8_t *text, size_t len)
{
	struct text t = { .p = text, .len = len };

	return index_text(read_text, &t);
}
