// SPDX-License-Identifier: GPL-2.0
/* Benchmark: programs that do nothing, on the hooks procimage uses: what merely having a program
 * attached costs every event (the physical limit an active procimage is compared with). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(empty_btf_sys_enter, struct pt_regs *regs, long id)
{
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int empty_tp_sys_enter(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(empty_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(empty_sched_wakeup, struct task_struct *p)
{
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(empty_sched_wakeup_new, struct task_struct *p)
{
	return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(empty_sched_waking, struct task_struct *p)
{
	return 0;
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(empty_sched_migrate_task, struct task_struct *p, int dest_cpu)
{
	return 0;
}
