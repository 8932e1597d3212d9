// SPDX-License-Identifier: GPL-2.0
/*
 * What processes map, as it happens: perf's side-band records (PERF_RECORD_MMAP2 with the path the
 * kernel resolved, PERF_RECORD_COMM with the exec flag) from a dummy software event, so a stack
 * captured before a process exited can still be symbolized after it is gone — /proc/PID/maps is
 * empty by then. This is how `perf record` knows the address spaces it reports on.
 *
 * Events follow given tasks and inherit to every task they create (one ring per CPU, the other
 * events of that CPU redirected into it), or, with no task given, the whole system. Only executable
 * mappings are reported (mmap_data = 0). Times are CLOCK_MONOTONIC, like bpf_ktime_get_ns().
 *
 * pi_sideband_read() copies the records, normalized, into a caller's buffer:
 *   [u32 len][u32 kind][u32 pid][u32 tid][u64 time][u64 addr][u64 size][u64 pgoff][u64 ino]
 *   [u32 prot][u32 maj_min][path or comm, NUL-terminated, padded to 8]
 * kind 1: a mapping; kind 2: an exec (the address space was replaced); kind 3: records the kernel
 * lost (size holds how many); kind 4: a new process (fork) whose parent is in `addr`: it starts with
 * its parent's mappings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_CPUS 1024

struct pi_sideband {
	int ncpus, nfds;
	int *fds;            /* every event opened */
	int ring_fd[MAX_CPUS];
	struct perf_event_mmap_page *ring[MAX_CPUS];
	size_t data_size, page_size;
	uint64_t lost;
	uint8_t scratch[65536]; /* a record that wraps around the ring's end is copied here whole */
};

struct out_rec {
	uint32_t len, kind, pid, tid;
	uint64_t time, addr, size, pgoff, ino;
	uint32_t prot, maj_min;
	char name[];
};

enum { KIND_MAP = 1, KIND_EXEC = 2, KIND_LOST = 3, KIND_FORK = 4 };

static int open_event(pid_t pid, int cpu, int inherit)
{
	struct perf_event_attr a = {0};
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_DUMMY;
	a.size = sizeof(a);
	a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
	a.sample_id_all = 1;
	a.mmap = 1; /* the kernel counts mmap listeners by this bit; mmap2 only picks the format */
	a.mmap2 = 1;
	a.comm = 1;
	a.comm_exec = 1;
	a.task = 1; /* fork records: a child has its parent's mappings until it execs */
	a.inherit = inherit;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	return syscall(SYS_perf_event_open, &a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

void pi_sideband_free(struct pi_sideband *sb)
{
	if (!sb)
		return;
	for (int c = 0; c < sb->ncpus; c++)
		if (sb->ring[c])
			munmap(sb->ring[c], sb->page_size + sb->data_size);
	for (int i = 0; i < sb->nfds; i++)
		close(sb->fds[i]);
	free(sb->fds);
	free(sb);
}

/*
 * Follows tids (their future children too), or the whole system when ntids is 0; one ring of
 * `pages` pages (a power of two) per CPU. NULL with errno on failure.
 */
struct pi_sideband *pi_sideband_new(const uint32_t *tids, int ntids, int ncpus, int pages)
{
	struct pi_sideband *sb;
	int err = 0;

	if (ncpus <= 0 || ncpus > MAX_CPUS || pages <= 0 || (pages & (pages - 1))) {
		errno = EINVAL;
		return NULL;
	}
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return NULL;
	sb->ncpus = ncpus;
	sb->page_size = sysconf(_SC_PAGESIZE);
	sb->data_size = (size_t)pages * sb->page_size;
	sb->fds = calloc((size_t)(ntids ? ntids : 1) * ncpus, sizeof(int));
	if (!sb->fds)
		goto fail;
	for (int c = 0; c < ncpus; c++) {
		sb->ring_fd[c] = -1;
		for (int t = 0; t < (ntids ? ntids : 1); t++) {
			int fd = open_event(ntids ? (pid_t)tids[t] : -1, c, ntids != 0);
			if (fd < 0) {
				if (errno == ESRCH && ntids) /* that thread has already exited */
					continue;
				if (errno == ENODEV || errno == ENXIO) /* an offline CPU */
					break;
				goto fail;
			}
			sb->fds[sb->nfds++] = fd;
			if (sb->ring_fd[c] < 0) {
				void *m = mmap(NULL, sb->page_size + sb->data_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
				if (m == MAP_FAILED)
					goto fail;
				sb->ring[c] = m;
				sb->ring_fd[c] = fd;
			} else if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, sb->ring_fd[c])) {
				goto fail;
			}
		}
	}
	return sb;
fail:
	err = errno;
	pi_sideband_free(sb);
	errno = err;
	return NULL;
}

/* The sample_id trailer (TID, TIME) of a record: its last 16 bytes. */
static void trailer(const uint8_t *rec, uint16_t size, uint32_t *pid, uint32_t *tid, uint64_t *time)
{
	memcpy(pid, rec + size - 16, 4);
	memcpy(tid, rec + size - 12, 4);
	memcpy(time, rec + size - 8, 8);
}

/* Appends one normalized record; 0 if it did not fit. */
static int emit(uint8_t *out, size_t cap, size_t *off, const struct out_rec *r, const char *name, size_t namelen)
{
	size_t len = sizeof(*r) + namelen + 1;
	size_t sz = (len + 7) & ~(size_t)7;
	if (*off + sz > cap)
		return 0;
	struct out_rec *o = (struct out_rec *)(out + *off);
	*o = *r;
	o->len = (uint32_t)len;
	memcpy(o->name, name, namelen);
	memset(o->name + namelen, 0, sz - sizeof(*r) - namelen);
	*off += sz;
	return 1;
}

static int convert(struct pi_sideband *sb, const uint8_t *rec, uint8_t *out, size_t cap, size_t *off)
{
	const struct perf_event_header *h = (const void *)rec;
	struct out_rec r = {0};

	if (h->type == PERF_RECORD_MMAP2 && h->size >= 8 + 64 + 16) {
		const uint8_t *p = rec + 8;
		memcpy(&r.pid, p, 4);
		memcpy(&r.tid, p + 4, 4);
		memcpy(&r.addr, p + 8, 8);
		memcpy(&r.size, p + 16, 8);
		memcpy(&r.pgoff, p + 24, 8);
		if (!(h->misc & PERF_RECORD_MISC_MMAP_BUILD_ID)) {
			uint32_t maj, min;
			memcpy(&maj, p + 32, 4);
			memcpy(&min, p + 36, 4);
			memcpy(&r.ino, p + 40, 8);
			r.maj_min = (maj << 20) | (min & 0xfffff);
		}
		memcpy(&r.prot, p + 56, 4);
		const char *name = (const char *)(p + 64);
		size_t max = h->size - 8 - 64 - 16;
		r.kind = KIND_MAP;
		trailer(rec, h->size, &r.pid, &r.tid, &r.time);
		return emit(out, cap, off, &r, name, strnlen(name, max));
	}
	if (h->type == PERF_RECORD_COMM && (h->misc & PERF_RECORD_MISC_COMM_EXEC) && h->size >= 8 + 8 + 16) {
		const char *comm = (const char *)(rec + 16);
		r.kind = KIND_EXEC;
		trailer(rec, h->size, &r.pid, &r.tid, &r.time);
		return emit(out, cap, off, &r, comm, strnlen(comm, h->size - 16 - 16));
	}
	if (h->type == PERF_RECORD_FORK && h->size >= 8 + 24) {
		uint32_t pid, ppid, tid;
		memcpy(&pid, rec + 8, 4);
		memcpy(&ppid, rec + 12, 4);
		memcpy(&tid, rec + 16, 4);
		if (pid == ppid)
			return 1; /* a thread: same address space */
		r.kind = KIND_FORK;
		r.pid = pid;
		r.tid = tid;
		r.addr = ppid;
		memcpy(&r.time, rec + 24, 8);
		return emit(out, cap, off, &r, "", 0);
	}
	if (h->type == PERF_RECORD_LOST && h->size >= 8 + 16) {
		uint64_t n;
		memcpy(&n, rec + 16, 8);
		sb->lost += n;
		r.kind = KIND_LOST;
		r.size = n;
		return emit(out, cap, off, &r, "", 0);
	}
	return 1; /* other records (a comm change without exec): nothing to keep */
}

/* Copies every pending record of every CPU into out; returns the bytes written. */
long pi_sideband_read(struct pi_sideband *sb, void *outp, size_t cap)
{
	uint8_t *out = outp;
	size_t off = 0;

	for (int c = 0; c < sb->ncpus; c++) {
		struct perf_event_mmap_page *pg = sb->ring[c];
		if (!pg)
			continue;
		const uint8_t *data = (const uint8_t *)pg + sb->page_size;
		uint64_t head = __atomic_load_n(&pg->data_head, __ATOMIC_ACQUIRE);
		uint64_t tail = pg->data_tail;
		while (tail < head) {
			size_t at = tail & (sb->data_size - 1);
			const struct perf_event_header *h = (const void *)(data + at);
			uint16_t size = h->size;
			const uint8_t *rec = data + at;
			if (at + size > sb->data_size) { /* wraps: gather it */
				size_t first = sb->data_size - at;
				memcpy(sb->scratch, data + at, first);
				memcpy(sb->scratch + first, data, size - first);
				rec = sb->scratch;
			}
			if (size < sizeof(*h) || !convert(sb, rec, out, cap, &off))
				break; /* out is full: the rest stays for the next call */
			tail += size;
		}
		__atomic_store_n(&pg->data_tail, tail, __ATOMIC_RELEASE);
	}
	return (long)off;
}

uint64_t pi_sideband_lost(struct pi_sideband *sb)
{
	return sb->lost;
}
