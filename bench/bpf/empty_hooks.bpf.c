// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark: a program that does nothing on each hook a category of procimage attaches (src/collect's
 * programs(), by category): the floor that category's hooks impose, whatever it does in them. The
 * benchmark attaches those of the categories it compares (bench/unixmix.ts, FLOOR_PROGRAMS); the
 * uprobes of -l are bench/bpf/empty_uprobes.bpf.c's.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* keytime (-k) */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(empty_fork, struct task_struct *parent, struct task_struct *child) { return 0; }
SEC("tp_btf/sched_process_exec")
int BPF_PROG(empty_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) { return 0; }
SEC("tp_btf/sched_process_exit")
int BPF_PROG(empty_exit, struct task_struct *task) { return 0; }
/* keytime's wakers and migrations (issue 18) */
SEC("tp_btf/sched_waking")
int BPF_PROG(empty_waking, struct task_struct *p) { return 0; }
SEC("tp_btf/sched_migrate_task")
int BPF_PROG(empty_migrate, struct task_struct *p, int dest_cpu) { return 0; }
/* keytime and schedule (-S) share one program on it */
SEC("tp_btf/sched_switch")
int BPF_PROG(empty_switch, bool preempt, struct task_struct *prev, struct task_struct *next) { return 0; }
/* schedule */
SEC("tp_btf/sched_wakeup")
int BPF_PROG(empty_wakeup, struct task_struct *t) { return 0; }
SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(empty_wakeup_new, struct task_struct *t) { return 0; }
/* syscall (-s); lock's futex waits run inside these when syscall is in the policy */
SEC("tp_btf/sys_enter")
int BPF_PROG(empty_sys_enter, struct pt_regs *regs, long id) { return 0; }
SEC("tp_btf/sys_exit")
int BPF_PROG(empty_sys_exit, struct pt_regs *regs, long ret) { return 0; }
/* syscall and lock: their own program on the task's exit, beside keytime's (resource uses keytime's) */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(empty_exit_syscall, struct task_struct *task) { return 0; }
/* lock (-l): kernel lock contention, and futex waits without syscall in the policy */
SEC("tp_btf/contention_begin")
int BPF_PROG(empty_contention_begin, void *lock, unsigned int flags) { return 0; }
SEC("tp_btf/contention_end")
int BPF_PROG(empty_contention_end, void *lock, int ret) { return 0; }
SEC("tracepoint/syscalls/sys_enter_futex")
int empty_futex_enter(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_exit_futex")
int empty_futex_exit(void *ctx) { return 0; }
