// SPDX-License-Identifier: GPL-2.0
/*
 * Ring-buffer drain for the Node side (src/bpf/ringbuf.ts).
 *
 * One JS callback per record tops out near 0.5 M records/s; copying records into a caller's buffer
 * and handing JS whole batches reaches 2.3-2.6 M/s (../shared/spikes/ringdrain). pi_drain() is
 * called through koffi's .async, on a libuv pool thread, so its epoll wait never blocks the event loop.
 *
 * Batch format: per record [u32 len][u32 0][len bytes, zero-padded to a multiple of 8].
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pi_drainer {
	struct ring_buffer *rb;
	uint8_t *out;
	size_t cap, off, max_rec;
	int full;
	uint64_t oversize; /* records larger than a whole batch: impossible to hand over, counted */
};

static int on_record(void *ctx, void *data, size_t len)
{
	struct pi_drainer *d = ctx;
	size_t sz = 8 + ((len + 7) & ~(size_t)7);

	if (d->off + sz > d->cap) {
		/* cannot happen for len <= max_rec (we stop early, below); a larger record is lost */
		d->oversize++;
		d->full = 1;
		return -1;
	}
	uint32_t hdr[2] = { (uint32_t)len, 0 };
	memcpy(d->out + d->off, hdr, 8);
	memcpy(d->out + d->off + 8, data, len);
	if (sz > 8 + len)
		memset(d->out + d->off + 8 + len, 0, sz - 8 - len);
	d->off += sz;
	/* libbpf marks a record consumed even when we return < 0: stop while a maximum one still fits */
	if (d->cap - d->off < 8 + d->max_rec) {
		d->full = 1;
		return -1;
	}
	return 0;
}

struct pi_drainer *pi_drainer_new(int map_fd, size_t max_rec)
{
	struct pi_drainer *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->max_rec = (max_rec + 7) & ~(size_t)7;
	d->rb = ring_buffer__new(map_fd, on_record, d, NULL);
	if (!d->rb) {
		int err = errno;
		free(d);
		errno = err;
		return NULL;
	}
	return d;
}

/*
 * Copies what the ring holds into out; returns the bytes written or -errno. Consumes first (no
 * syscall, and it sees records submitted with BPF_RB_NO_WAKEUP); only when the ring was empty does it
 * sleep in epoll, for at most timeout_ms.
 */
long pi_drain(struct pi_drainer *d, void *out, size_t cap, int timeout_ms)
{
	int r;

	if (cap < 8 + d->max_rec)
		return -EINVAL;
	d->out = out;
	d->cap = cap;
	d->off = 0;
	d->full = 0;
	r = ring_buffer__consume(d->rb);
	if (r < 0 && !d->full)
		return r;
	if (d->off == 0 && timeout_ms != 0) {
		r = ring_buffer__poll(d->rb, timeout_ms);
		if (r < 0 && !d->full && r != -EINTR)
			return r;
	}
	return (long)d->off;
}

uint64_t pi_drainer_oversize(struct pi_drainer *d)
{
	return d->oversize;
}

void pi_drainer_free(struct pi_drainer *d)
{
	if (!d)
		return;
	ring_buffer__free(d->rb);
	free(d);
}
