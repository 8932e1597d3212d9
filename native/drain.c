// SPDX-License-Identifier: GPL-2.0
/*
 * Ring-buffer drain for the Node side (src/bpf/ringbuf.ts).
 *
 * One JS callback per record tops out near 0.5 M records/s; copying records into a caller's buffer
 * and handing JS whole batches reaches millions per second (../shared/spikes/ringdrain). pi_drain()
 * is called through koffi's .async, on a libuv pool thread, so its epoll wait never blocks the event
 * loop.
 *
 * This is a consumer of the BPF ring buffer protocol (kernel/bpf/ringbuf.c), written here instead of
 * using libbpf's ring_buffer__*() for two reasons:
 *  - libbpf maps the data area twice, so that a record wrapping around the end reads as one piece;
 *    the mapping counts twice in RSS (32 MB for a 16 MiB ring). We copy every record anyway, so we
 *    map the data once and copy a wrapped record in two pieces.
 *  - libbpf's callback cannot refuse a record: it is consumed even when the callback returns < 0.
 *    Here a record that does not fit the caller's buffer stays in the ring for the next call.
 * The loop is libbpf's ringbuf_process_ring(): acquire-load the producer position and each
 * record's length (skipping discarded records, stopping at a busy one), release-store the consumer
 * position after each record.
 *
 * Batch format: per record [u32 len][u32 0][len bytes, zero-padded to a multiple of 8].
 *
 * Wakeups: most records wake nobody; the kernel wakes the reader a few ms after the first of them,
 * or at once for a record someone waits for (pi_submit() in bpf/common.bpf.h). The ring is in epoll
 * edge-triggered, so that epoll_wait() returns for a new wakeup only, not because records that woke
 * nobody are waiting: after a short batch the next call waits for the next wakeup (wait_first), and
 * records gather into one batch meanwhile. A wakeup that comes while no one waits is kept by epoll
 * for the next wait.
 *
 * Stopping: pi_drainer_wake() ends a wait in progress at once (an eventfd in the same epoll set), so
 * that stopping the reader (at every deactivation, and before `trace` can exit) does not wait out
 * the timeout.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

struct pi_drainer {
	int epfd;
	int wakefd; /* an eventfd: pi_drainer_wake() ends a wait */
	uint64_t *consumer_pos; /* one page, read-write */
	uint64_t *producer_pos; /* one page, read-only, followed by the data */
	uint8_t *data;
	size_t data_size, page_size, max_rec;
	uint64_t oversize; /* records larger than a whole batch: impossible to hand over, skipped, counted */
};

static inline uint32_t rec_total(uint32_t len) /* header + payload, 8-aligned, flags cleared */
{
	len &= ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
	return (len + BPF_RINGBUF_HDR_SZ + 7) & ~7u;
}

struct pi_drainer *pi_drainer_new(int map_fd, size_t max_rec)
{
	struct bpf_map_info info = {0};
	uint32_t info_len = sizeof(info);
	struct pi_drainer *d;
	int err;

	if (bpf_obj_get_info_by_fd(map_fd, &info, &info_len))
		return NULL;
	if (info.type != BPF_MAP_TYPE_RINGBUF) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->page_size = sysconf(_SC_PAGESIZE);
	d->data_size = info.max_entries;
	d->max_rec = max_rec;
	d->epfd = -1;
	d->wakefd = -1;
	d->consumer_pos = mmap(NULL, d->page_size, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (d->consumer_pos == MAP_FAILED)
		goto fail;
	d->producer_pos = mmap(NULL, d->page_size + d->data_size, PROT_READ, MAP_SHARED, map_fd, d->page_size);
	if (d->producer_pos == MAP_FAILED)
		goto fail;
	d->data = (uint8_t *)d->producer_pos + d->page_size;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		goto fail;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, map_fd, &ev))
		goto fail;
	d->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->wakefd < 0)
		goto fail;
	struct epoll_event wake = { .events = EPOLLIN, .data.u64 = 1 };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wakefd, &wake))
		goto fail;
	return d;
fail:
	err = errno;
	if (d->wakefd >= 0)
		close(d->wakefd);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->producer_pos && d->producer_pos != MAP_FAILED)
		munmap(d->producer_pos, d->page_size + d->data_size);
	if (d->consumer_pos && d->consumer_pos != MAP_FAILED)
		munmap(d->consumer_pos, d->page_size);
	free(d);
	errno = err;
	return NULL;
}

/* Copies committed records into out until the ring is empty or out is full; returns bytes written. */
static size_t consume(struct pi_drainer *d, uint8_t *out, size_t cap)
{
	uint64_t cons = __atomic_load_n(d->consumer_pos, __ATOMIC_ACQUIRE);
	uint64_t mask = d->data_size - 1;
	size_t off = 0;

	for (;;) {
		uint64_t prod = __atomic_load_n(d->producer_pos, __ATOMIC_ACQUIRE);
		if (cons >= prod)
			break;
		while (cons < prod) {
			uint32_t *hdr = (uint32_t *)(d->data + (cons & mask)); /* 8-aligned: never wraps */
			uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
			if (len & BPF_RINGBUF_BUSY_BIT)
				goto done; /* reserved, not yet submitted: the next call takes it */
			uint32_t total = rec_total(len);
			if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
				size_t sz = 8 + ((len + 7) & ~(size_t)7);
				if (sz > cap) {
					d->oversize++; /* can never fit: skip it, counted */
				} else if (off + sz > cap) {
					goto done; /* full: leave it in the ring */
				} else {
					uint32_t pre[2] = { len, 0 };
					uint64_t at = (cons + BPF_RINGBUF_HDR_SZ) & mask;
					size_t first = len < d->data_size - at ? len : d->data_size - at;
					memcpy(out + off, pre, 8);
					memcpy(out + off + 8, d->data + at, first);
					if (first < len) /* wrapped around the end of the data area */
						memcpy(out + off + 8 + first, d->data, len - first);
					memset(out + off + 8 + len, 0, sz - 8 - len);
					off += sz;
				}
			}
			cons += total;
			__atomic_store_n(d->consumer_pos, cons, __ATOMIC_RELEASE);
		}
	}
done:
	return off;
}

/*
 * Copies what the ring holds into out; returns the bytes written or -errno. Consumes at once (no
 * syscall) unless wait_first is set (the last call found the ring dry: records are left to gather
 * until the kernel's next wakeup); if nothing is there, sleeps in epoll until a wakeup, for at most
 * timeout_ms (0: consume only, never sleep), and consumes again.
 */
long pi_drain(struct pi_drainer *d, void *out, size_t cap, int timeout_ms, int wait_first)
{
	struct epoll_event ev;
	size_t n;

	if (cap < 8 + d->max_rec)
		return -EINVAL;
	if (!wait_first || timeout_ms == 0) {
		n = consume(d, out, cap);
		if (n || timeout_ms == 0)
			return (long)n;
	}
	int r = epoll_wait(d->epfd, &ev, 1, timeout_ms);
	if (r < 0 && errno != EINTR)
		return -errno;
	if (r > 0 && ev.data.u64 == 1) {
		uint64_t v;
		if (read(d->wakefd, &v, sizeof(v)) < 0) { /* nothing to reset: another call took it */ }
	}
	return (long)consume(d, out, cap);
}

/* Ends a pi_drain() wait in progress (from any thread); a wake with no wait in progress ends the next one. */
void pi_drainer_wake(struct pi_drainer *d)
{
	uint64_t one = 1;

	if (write(d->wakefd, &one, sizeof(one)) < 0) { /* the counter is full: a wake is pending anyway */ }
}

uint64_t pi_drainer_oversize(struct pi_drainer *d)
{
	return d->oversize;
}

void pi_drainer_free(struct pi_drainer *d)
{
	if (!d)
		return;
	close(d->epfd);
	close(d->wakefd);
	munmap(d->producer_pos, d->page_size + d->data_size);
	munmap(d->consumer_pos, d->page_size);
	free(d);
}
