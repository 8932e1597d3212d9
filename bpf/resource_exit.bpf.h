/* SPDX-License-Identifier: GPL-2.0 */
/*
 * resource, at exit: a task's last figures, taken in keytime's sched_process_exit program (one
 * program on that hook serves both categories) and kept in `resource_exits` until the resource
 * collector's next sample reads and deletes them. Without it, a task that ends between two samples
 * would vanish with whatever it did since the previous one.
 *
 * Since 6.16 sched_process_exit runs before exit_mm() (it gained `group_dead` in the same change), so
 * the task still has its memory and the capture reads it; before, the memory is already released
 * there and only the peak the kernel kept in signal->maxrss remains.
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
 * The exiting task's memory, where the kernel has not released it yet (6.16+; task->mm is NULL here
 * before). Its rss counters without their per-CPU deltas (RES_RSS_COUNT): a plain read, as
 * get_mm_counter() makes, flagged approximate.
 */
static __always_inline void res_exit_mem(struct task_struct *task, struct pi_res_mem *m, __u32 *flags)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);

	__builtin_memset(m, 0, sizeof(*m));
	if (!mm)
		return;
	m->file_pages = RES_RSS_COUNT(mm, RES_MM_FILEPAGES, flags);
	m->anon_pages = RES_RSS_COUNT(mm, RES_MM_ANONPAGES, flags);
	m->swap_pages = RES_RSS_COUNT(mm, RES_MM_SWAPENTS, flags);
	m->shmem_pages = RES_RSS_COUNT(mm, RES_MM_SHMEMPAGES, flags);
	m->vm_pages = BPF_CORE_READ(mm, total_vm);
	m->hiwater_rss_pages = BPF_CORE_READ(mm, hiwater_rss);
	*flags |= PI_RES_F_MEM;
}

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
	res_exit_mem(task, &e->thread.mem, &e->thread.flags);
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
		e->group.mem = e->thread.mem; /* the last thread's memory is the process's */
		e->group.flags |= e->thread.flags & (PI_RES_F_MEM | PI_RES_F_RSS_APPROX);
	}

	struct pi_res_exit_key k = { .pid = e->thread.pid, .start_ns = e->thread.start_ns };
	if (bpf_map_update_elem(&resource_exits, &k, e, BPF_ANY))
		pi_count_lost(PI_LOST_RES_EXITS_FULL);
}

#endif /* RESOURCE_EXIT_BPF_H */
