// SPDX-License-Identifier: GPL-2.0
/* Test oracle for the reader's wakeup policy (test/wakeup.test.ts): how often the target got a CPU,
 * and how often a thread of the reader's process was woken, and by whom. A wakeup from a BPF ring
 * runs as an irq_work on the CPU that submitted the record, just after the switch it recorded: in
 * the context of the task that got the CPU. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
const volatile __u32 reader_tgid = 0;

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 3); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");

enum { C_SWITCH_IN, C_READER_WOKEN, C_READER_WOKEN_BY_TARGET };

static __always_inline void count(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(wakers_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (next->tgid == target_tgid)
		count(C_SWITCH_IN);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakers_wakeup, struct task_struct *p)
{
	if (p->tgid != reader_tgid)
		return 0;
	count(C_READER_WOKEN);
	if ((bpf_get_current_pid_tgid() >> 32) == target_tgid)
		count(C_READER_WOKEN_BY_TARGET);
	return 0;
}
