/* SPDX-License-Identifier: GPL-2.0 */
/*
 * resource, at exit: a task's last figures, taken in keytime's sched_process_exit program (one
 * program on that hook serves both categories) and kept in `resource_exits` until the resource
 * collector's next sample reads and deletes them. Without it, a task that ends between two samples
 * would vanish with whatever it did since the previous one.
 *
 * sched_process_exit runs after exit_mm(): the memory is already released, so an exit capture has
 * no rss, only the peak the kernel kept in signal->maxrss.
 */
#ifndef RESOURCE_EXIT_BPF_H
#define RESOURCE_EXIT_BPF_H

#include "resource.bpf.h"

/*
 * Not preallocated: it holds only what ended since the last sample, usually little, but a fork
 * storm between two samples can fill it; what does not fit is counted (PI_LOST_RES_EXITS_FULL).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct pi_res_exit_key);
	__type(value, struct pi_res_exit);
} resource_exits SEC(".maps");

/* struct pi_res_exit is too large for the BPF stack beside the thread walk: built here. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pi_res_exit);
} resource_exit_scratch SEC(".maps");

/*
 * Called for every target task that exits while resource is in the policy. Every process (no
 * selector) is reported per process only, so there only the last thread of a process is kept.
 */
static __always_inline void res_capture_exit(const struct pi_policy *p, struct task_struct *task, __u32 group_dead)
{
	__u32 zero = 0;
	struct pi_res_exit *e;

	if (p->target_kind == PI_TARGET_ALL && !group_dead)
		return;
	e = bpf_map_lookup_elem(&resource_exit_scratch, &zero);
	if (!e)
		return;
	__u64 now = bpf_ktime_get_ns();

	res_fill_thread(&e->thread, task, now);
	e->thread.flags |= PI_RES_F_EXITED;
	__builtin_memset(&e->thread.mem, 0, sizeof(e->thread.mem));
	__builtin_memset(&e->group, 0, sizeof(e->group));
	e->group_dead = group_dead;
	e->threads = 0;
	e->maxrss_pages = 0;
	if (group_dead) {
		struct signal_struct *sig = BPF_CORE_READ(task, signal);
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);

		e->group.kind = PI_RES_GROUP;
		e->group.pid = BPF_CORE_READ(leader, pid);
		e->group.tgid = e->thread.tgid;
		e->group.flags = res_read_signal(sig, &e->group.c) | PI_RES_F_EXITED |
				 (e->thread.flags & PI_RES_F_KTHREAD);
		e->group.ts_ns = now;
		e->group.start_ns = BPF_CORE_READ(leader, start_time);
		BPF_CORE_READ_STR_INTO(&e->group.comm, leader, comm);
		e->threads = res_sum_threads(sig, &e->group.c);
		e->maxrss_pages = BPF_CORE_READ(sig, maxrss);
	}

	struct pi_res_exit_key k = { .pid = e->thread.pid, .start_ns = e->thread.start_ns };
	if (bpf_map_update_elem(&resource_exits, &k, e, BPF_ANY))
		pi_count_lost(PI_LOST_RES_EXITS_FULL);
}

#endif /* RESOURCE_EXIT_BPF_H */
