/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-task scheduler state and scheduling-delay accounting, shared by the keytime object (whose one
 * sched_switch program serves keytime and schedule: a second program on sched_switch would charge
 * every context switch of every process again) and the schedule object (its wakeup programs).
 */
#ifndef SCHED_BPF_H
#define SCHED_BPF_H

#include "common.bpf.h"
#include "log2.bpf.h"
#include "maps.bpf.h"

#define PI_TASK_RUNNING 0
#define PI_TASK_DEAD 0x80
#define PI_PF_KTHREAD 0x00200000 /* include/linux/sched.h: macros are not in vmlinux.h */

/* Kernel-only: what a task's last scheduler events were, for the activation `gen`. */
struct pi_task_state {
	__u32 gen;
	__u32 off_state;  /* state it left the CPU in (keytime) */
	__u64 queued_ns;  /* schedule: became runnable (woken or preempted) and not yet running; 0: no */
	__u64 on_ns;      /* keytime: its current on-CPU interval began; 0: unknown */
	__u64 off_ns;     /* keytime: its current off-CPU interval began; 0: unknown */
	__u64 exec_in;    /* keytime: se.exec_start when on_ns was stamped (the scheduler's clock then) */
	__u32 off_preempt;
	__u32 off_cpu;    /* keytime: where the current off-CPU interval began */
	__u64 off_sig;    /* keytime: its stacks' sig (0: none) */
	__u64 on_prev;    /* keytime: when the on-CPU interval its switch-out ended began (0: unknown) */
	__u32 out_sent;   /* keytime: that switch-out sent a record */
	__u32 on_prev_inferred;
	/* keytime's wakers (waker.bpf.h): the latest wake-up of the task while it slept */
	__u64 wake_ns;
	__u32 waker_pid;
	__u32 waker_tgid;
	__u32 waker_flags;
	__u32 pad2;
};

/* Task storage: allocated for a task on first use, freed with it; no pid reuse to get wrong. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pi_task_state);
} pi_task SEC(".maps");

/* Scheduling delay of each target thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct pi_sched_key);
	__type(value, struct pi_sched_thread);
} pi_sched_threads SEC(".maps");

static const struct pi_sched_thread pi_sched_thread_zero;

/* Scheduling delay of every thread but the idle tasks: the system's figures beside the target's. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pi_sched_stats);
} pi_sched_sys SEC(".maps");

/* The task's state for this activation (reset if it is an earlier one's), created if asked. */
static __always_inline struct pi_task_state *pi_task_state(struct task_struct *t, __u32 gen, int create)
{
	struct pi_task_state *s = bpf_task_storage_get(&pi_task, t, 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);

	if (s && s->gen != gen) {
		s->gen = gen;
		s->queued_ns = s->on_ns = s->off_ns = s->exec_in = 0;
		s->off_state = s->off_preempt = s->off_cpu = s->out_sent = s->on_prev_inferred = 0;
		s->off_sig = s->on_prev = 0;
		s->wake_ns = 0;
	}
	return s;
}

static __always_inline void pi_sched_account(struct pi_sched_stats *st, __u64 delay)
{
	if (st->count == 0 || delay < st->min_ns)
		st->min_ns = delay;
	if (delay > st->max_ns)
		st->max_ns = delay;
	st->count++;
	st->total_ns += delay;
	pi_log2_add(st->slots, delay);
}

/* A task became runnable: its delay starts now (the latest event wins, as in runqlat). */
static __always_inline void pi_sched_queued(const struct pi_policy *p, struct task_struct *t, __u64 now)
{
	struct pi_task_state *s = pi_task_state(t, p->generation, 1);

	if (s)
		s->queued_ns = now;
}

/*
 * A wakeup. One that comes while the task is still on its CPU (it had not finished going to sleep)
 * has no delay to count: it will be seen as runnable at its switch-out instead. Counting from it
 * would stamp a delay spanning the next whole sleep. (For a task that really slept, the kernel waits
 * for on_cpu to clear before it enqueues, so it is 0 here.)
 */
static __always_inline void pi_sched_woken(const struct pi_policy *p, struct task_struct *t)
{
	if (!BPF_CORE_READ(t, on_cpu))
		pi_sched_queued(p, t, bpf_ktime_get_ns());
}

/* next got the CPU at `now`: it stops waiting, and its delay counts. */
static __always_inline void pi_sched_ran(const struct pi_policy *p, struct task_struct *next,
					 struct pi_task_state *s, __u64 now, __u32 cpu)
{
	if (!s->queued_ns || s->queued_ns > now) /* > now: an inferred arrival, on another clock, just before it */
		return;
	__u64 delay = now - s->queued_ns;
	s->queued_ns = 0;

	__u32 pid = next->pid;
	if (pid != 0) {
		__u32 zero = 0;
		struct pi_sched_stats *sys = bpf_map_lookup_elem(&pi_sched_sys, &zero);
		if (sys)
			pi_sched_account(sys, delay);
	}
	if (!pi_is_target(p, pid, next->tgid, cpu))
		return;
	struct pi_sched_key key = { .pid = pid, .cpu = pid == 0 ? cpu : 0xffffffff };
	/* a new entry starts from zeroes in .rodata: built on the stack it would take 376 of its 512 bytes */
	struct pi_sched_thread *th = pi_lookup_or_init(&pi_sched_threads, &key, &pi_sched_thread_zero,
						       PI_LOST_SCHED_THREADS);
	if (!th)
		return;
	th->tgid = next->tgid;
	BPF_CORE_READ_STR_INTO(&th->comm, next, comm); /* its name now: it may have exec'd */
	pi_sched_account(&th->stats, delay);
}

/* At sched_switch: prev still runnable starts waiting; next stops waiting, and its delay counts. */
static __always_inline void pi_sched_switch(const struct pi_policy *p, struct task_struct *prev,
					    struct task_struct *next, int runnable, __u64 now, __u32 cpu)
{
	if (runnable)
		pi_sched_queued(p, prev, now);

	struct pi_task_state *s = pi_task_state(next, p->generation, 0);
	if (s)
		pi_sched_ran(p, next, s, now, cpu);
}

/* A target thread exited: its entry stays until user space has reported its last figures. */
static __always_inline void pi_sched_exited(__u32 pid, __u32 cpu)
{
	struct pi_sched_key key = { .pid = pid, .cpu = pid == 0 ? cpu : 0xffffffff };
	struct pi_sched_thread *th = bpf_map_lookup_elem(&pi_sched_threads, &key);

	if (th)
		th->exited = 1;
}

#endif /* SCHED_BPF_H */
