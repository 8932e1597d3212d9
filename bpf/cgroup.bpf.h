/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Targets by cgroup v2 (--cgroup PATH, --container ID) and by cgroup namespace (-o: the threads of
 * containers). Membership is kept per thread in pi_follow, indexed by thread id (a thread-group
 * target's bitmap, indexed by tgid: one policy at a time), so pi_is_target() tests it as cheaply as
 * a thread group's, and no other target kind pays anything for it. The bits change where membership
 * does:
 *  - at activation, user space sets them for the threads in the cgroup and below (src/model/session.ts);
 *  - at fork (keytime_fork): the child's own cgroup, which CLONE_INTO_CGROUP may make another than
 *    its parent's, is tested, and its bit set or cleared (a recycled thread id is never taken);
 *  - at a migration (tp_btf/cgroup_attach_task, after the move): the task's, or every thread of
 *    its group when the whole process moved;
 *  - at exec (-o): runtimes unshare the cgroup namespace after the fork, before the exec.
 * The test itself reads the task's default-hierarchy cgroup and its ancestor at the target's level:
 * a fixed number of reads, no loop over the depth.
 */
#ifndef CGROUP_BPF_H
#define CGROUP_BPF_H

#include "common.bpf.h"

/* PROC_CGROUP_INIT_INO: the inode number of the initial cgroup namespace (include/linux/proc_ns.h) */
#define PI_CGROUP_INIT_NS_INO 0xEFFFFFFBU
#define PI_CGROUP_LEVEL_MAX 1024
#define PI_GROUP_WALK_MAX 65536 /* threads of one process walked at a migration */

static __always_inline int pi_member_kind(const struct pi_policy *p)
{
	return p->target_kind == PI_TARGET_CGROUP || p->target_kind == PI_TARGET_CONTAINERS;
}

/* Whether task t is in the target cgroup or below it now. */
static __always_inline int pi_task_in_cgroup(const struct pi_policy *p, struct task_struct *t)
{
	struct cgroup *cg = BPF_CORE_READ(t, cgroups, dfl_cgrp);
	__u32 level = p->target_cgroup_level;

	if (!cg || level >= PI_CGROUP_LEVEL_MAX || BPF_CORE_READ(cg, level) < (int)level)
		return 0;
	struct cgroup *anc = 0;
	bpf_probe_read_kernel(&anc, sizeof(anc), &cg->ancestors[level]);
	return anc && BPF_CORE_READ(anc, kn, id) == p->target_cgroup_id;
}

/* Whether t is a thread of a container: outside the initial cgroup namespace. */
static __always_inline int pi_task_in_container(const struct pi_policy *p, struct task_struct *t)
{
	__u32 ino = BPF_CORE_READ(t, nsproxy, cgroup_ns, ns.inum);

	return ino && ino != PI_CGROUP_INIT_NS_INO && (p->myproc || BPF_CORE_READ(t, tgid) != pi_self_tgid);
}

/* Sets or clears t's bit by what it belongs to now. */
static __always_inline void pi_member_update(const struct pi_policy *p, struct task_struct *t)
{
	int in = p->target_kind == PI_TARGET_CGROUP ? pi_task_in_cgroup(p, t) : pi_task_in_container(p, t);
	__u32 pid = BPF_CORE_READ(t, pid);

	if (pid && (in || pi_followed(pid)))
		pi_follow_set(pid, in);
}

struct pi_group_walk {
	__u64 head; /* &signal->thread_head */
	__u64 pos;  /* the list node last visited */
};

/* bpf_loop's callback: the next thread of the group (signal->thread_head, linked by thread_node). */
static long pi_group_step(__u32 i, struct pi_group_walk *w)
{
	const struct pi_policy *p = pi_active_policy();
	__u64 next = 0;

	if (!p)
		return 1;
	bpf_probe_read_kernel(&next, sizeof(next), (void *)w->pos); /* list_head.next is its first field */
	if (!next || next == w->head)
		return 1;
	struct task_struct *t = (struct task_struct *)(next - bpf_core_field_offset(struct task_struct, thread_node));
	pi_member_update(p, t);
	w->pos = next;
	return 0;
}

/*
 * A task was moved to another cgroup (threadgroup: with every thread of its process): what each
 * belongs to now. Runs after the move (cgroup_attach_task's tracepoint follows cgroup_migrate()).
 */
static __always_inline void pi_cgroup_moved(struct task_struct *task, int threadgroup)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p || p->target_kind != PI_TARGET_CGROUP)
		return;
	if (!threadgroup) {
		pi_member_update(p, task);
		return;
	}
	struct pi_group_walk w = {
		.head = (__u64)BPF_CORE_READ(task, signal) + bpf_core_field_offset(struct signal_struct, thread_head),
	};
	w.pos = w.head;
	bpf_loop(PI_GROUP_WALK_MAX, pi_group_step, &w, 0);
}

#endif /* CGROUP_BPF_H */
