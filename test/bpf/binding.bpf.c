// SPDX-License-Identifier: GPL-2.0
/* Test fixture for the libbpf binding (test/bpf.test.ts): one program per attach type it supports,
 * and one map of each kind it reads. Every program counts calls of the target tgid only. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
const volatile __u64 magic = 0;

struct rec { __u32 tgid, pid; __u64 ts, seq, magic, nr, pad; }; /* 48 bytes, like the spike's */

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } rb SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, __u32); __type(value, __u64); } hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } percpu SEC(".maps");
/* An array of maps has batch lookup and update but no batch delete, and deletes entry by entry: the
 * batch delete fallback's test. Its slots hold maps like `counts`. */
struct inner_counts { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, __u64); };
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 8); __type(key, __u32); __array(values, struct inner_counts); } outer SEC(".maps");

enum { C_RAW_TP, C_TP_BTF, C_TRACEPOINT, C_UPROBE, C_URETPROBE, C_PERF, C_RB_FAIL };

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void count(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

__u64 seq;

SEC("raw_tp/sys_enter")
int on_raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (!mine() || ctx->args[1] != 110 /* getppid */)
		return 0;
	count(C_RAW_TP);
	struct rec *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		count(C_RB_FAIL);
		return 0;
	}
	__u64 pt = bpf_get_current_pid_tgid();
	r->tgid = pt >> 32;
	r->pid = (__u32)pt;
	r->ts = bpf_ktime_get_ns();
	r->seq = __sync_fetch_and_add(&seq, 1);
	r->magic = magic;
	r->nr = ctx->args[1];
	bpf_ringbuf_submit(r, 0);
	/* per-tid hash entries and a per-CPU counter, for the map tests */
	__u32 tid = (__u32)pt;
	__u64 one = 1, *v = bpf_map_lookup_elem(&hash, &tid);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&hash, &tid, &one, BPF_NOEXIST);
	__u32 zero = 0;
	__u64 *p = bpf_map_lookup_elem(&percpu, &zero);
	if (p)
		*p += 1;
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_btf_sys_enter, struct pt_regs *regs, long id)
{
	if (mine() && id == 110)
		count(C_TP_BTF);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_tp_getppid(void *ctx)
{
	if (mine())
		count(C_TRACEPOINT);
	return 0;
}

SEC("uprobe")
int on_uprobe(void *ctx)
{
	count(C_UPROBE);
	return 0;
}

SEC("uretprobe")
int on_uretprobe(void *ctx)
{
	count(C_URETPROBE);
	return 0;
}

/* loaded for uprobe_multi: counts into the slot its attachment's cookie names */
SEC("uprobe")
int on_uprobe_cookie(void *ctx)
{
	if (mine())
		count(bpf_get_attach_cookie(ctx) & 7);
	return 0;
}

SEC("perf_event")
int on_perf(void *ctx)
{
	if (mine())
		count(C_PERF);
	return 0;
}

/* A task iterator: one 512-byte record per task (its pid first), so one run spans several reads. */
struct { __u32 pid, tgid; char pad[504]; } iter_rec;

SEC("iter/task")
int iter_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;

	if (!t)
		return 0;
	iter_rec.pid = t->pid;
	iter_rec.tgid = t->tgid;
	bpf_seq_write(ctx->meta->seq, &iter_rec, sizeof(iter_rec));
	return 0;
}
