// SPDX-License-Identifier: GPL-2.0
/*
 * Not a category: one trivial program per kind of hook, so src/bpf/features.ts can ask the kernel
 * itself whether it can load and attach each (e.g. fentry loads fail with EPERM on some kernels, and
 * kprobes are absent without CONFIG_KPROBES) instead of guessing from version numbers.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_process_free")
int BPF_PROG(probe_tp_btf, struct task_struct *p)
{
	return 0;
}

/* lock:contention_begin/end (6.0+): kernel lock contention */
SEC("tp_btf/contention_begin")
int BPF_PROG(probe_lock_contention, void *lock, unsigned int flags)
{
	return 0;
}

SEC("raw_tp/sched_process_free")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tracepoint/sched/sched_process_free")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("fentry/do_exit")
int BPF_PROG(probe_fentry, long code)
{
	return 0;
}

SEC("kprobe/do_exit")
int probe_kprobe(void *ctx)
{
	return 0;
}

/* loaded for BPF_TRACE_UPROBE_MULTI by the uprobe_multi probe (Linux 6.6+) */
SEC("uprobe")
int probe_uprobe(void *ctx)
{
	return 0;
}

static long loop_cb(__u32 i, void *ctx)
{
	return 0;
}

SEC("raw_tp/sched_process_free")
int probe_bpf_loop(void *ctx)
{
	bpf_loop(1, loop_cb, 0, 0);
	return 0;
}

SEC("iter/task")
int probe_iter_task(struct bpf_iter__task *ctx)
{
	return 0;
}
