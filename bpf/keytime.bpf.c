// SPDX-License-Identifier: GPL-2.0
/*
 * keytime: the key time points of a task's life — fork/clone, exec, exit.
 *
 * These three hooks are also the lifecycle core the other categories stand on: with a thread-group
 * target, fork adds every new child process to the followed set and exit removes it, so they are
 * attached whenever the policy follows a thread group, whether or not keytime records are wanted.
 * The exit hook also takes a task's last resource figures when resource is active (one program on
 * the hook serves both categories: see resource_exit.bpf.h).
 */
#include "common.bpf.h"
#include "resource_exit.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_process_fork")
int BPF_PROG(keytime_fork, struct task_struct *parent, struct task_struct *child)
{
	const struct pi_policy *p = pi_active_policy();
	__u32 cpu = bpf_get_smp_processor_id();

	if (!p)
		return 0;
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	if (!pi_is_target(p, parent->pid, ptgid, cpu))
		return 0;
	/* a new process (not a thread) of a followed thread group is followed too */
	if (p->target_kind == PI_TARGET_TGID && ctgid != ptgid)
		pi_follow_set(ctgid, 1);
	if (!(p->categories & PI_CAT_KEYTIME))
		return 0;

	struct pi_fork_event *e = pi_reserve(sizeof(*e));
	if (!e)
		return 0;
	pi_fill_hdr(&e->hdr, PI_EV_FORK, parent);
	e->child_pid = child->pid;
	e->child_tgid = ctgid;
	e->child_start_ns = child->start_time;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(keytime_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	const struct pi_policy *p = pi_active_policy();
	__u32 cpu = bpf_get_smp_processor_id();

	if (!p || !(p->categories & PI_CAT_KEYTIME))
		return 0;
	/* a non-leader thread that execs takes the leader's pid: a one-thread target knew it by old_pid */
	if (!pi_is_target(p, task->pid, task->tgid, cpu) && !pi_is_target(p, old_pid, task->tgid, cpu))
		return 0;

	struct pi_exec_event *e = pi_reserve(sizeof(*e));
	if (!e)
		return 0;
	pi_fill_hdr(&e->hdr, PI_EV_EXEC, task);
	e->old_pid = old_pid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));

	/* argv as the new image sees it: NUL-separated strings between mm->arg_start and arg_end */
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u64 start = BPF_CORE_READ(mm, arg_start), end = BPF_CORE_READ(mm, arg_end);
	__u64 n = end > start ? end - start : 0;

	e->args_truncated = n > PI_ARGS_LEN;
	if (n > PI_ARGS_LEN)
		n = PI_ARGS_LEN;
	barrier_var(n); /* keep clang from checking one copy of n and passing another */
	if (bpf_probe_read_user(e->args, n, (void *)start))
		n = 0;
	e->args_len = n;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(keytime_exit, struct task_struct *task)
{
	const struct pi_policy *p = pi_active_policy();
	__u32 cpu = bpf_get_smp_processor_id();

	if (!p)
		return 0;
	__u32 pid = task->pid, tgid = task->tgid;
	if (!pi_is_target(p, pid, tgid, cpu))
		return 0;
	/*
	 * do_exit() has already decremented signal->live: 0 means the last thread is leaving. Read it
	 * here rather than take the tracepoint's group_dead argument, which older kernels lack.
	 */
	__u32 group_dead = BPF_CORE_READ(task, signal, live.counter) == 0;

	if (group_dead && p->target_kind == PI_TARGET_TGID)
		pi_follow_set(tgid, 0);
	if (p->categories & PI_CAT_RESOURCE)
		res_capture_exit(p, task, group_dead);
	if (!(p->categories & PI_CAT_KEYTIME))
		return 0;

	struct pi_exit_event *e = pi_reserve(sizeof(*e));
	if (!e)
		return 0;
	pi_fill_hdr(&e->hdr, PI_EV_EXIT, task);
	e->exit_code = task->exit_code;
	e->group_dead = group_dead;
	e->start_ns = task->start_time;
	e->process_start_ns = BPF_CORE_READ(task, group_leader, start_time);
	e->oncpu_ns = task->se.sum_exec_runtime;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
