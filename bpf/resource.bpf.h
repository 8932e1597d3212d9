/* SPDX-License-Identifier: GPL-2.0 */
/*
 * resource: reading the counters the kernel already keeps in every task — on-CPU time, context
 * switches, faults, I/O accounting — and, for a process's dead threads, in its signal_struct (what
 * /proc/PID/stat and /proc/PID/io add up too). Shared by the task iterator (resource.bpf.c) and
 * keytime's exit hook (resource_exit.bpf.h), so both read exactly the same fields.
 *
 * Every read is CO-RE (BPF_CORE_READ): the pointers handed around here are plain addresses (a
 * thread found by walking a list is not a trusted BTF pointer). A field this kernel was built
 * without reads as 0 and is flagged.
 */
#ifndef RESOURCE_BPF_H
#define RESOURCE_BPF_H

#include "common.bpf.h"

/*
 * task_io_accounting lives in `ioac` of both task_struct and signal_struct; read_bytes/write_bytes
 * exist only with CONFIG_TASK_IO_ACCOUNTING, syscr/syscw only with CONFIG_TASK_XACCT. Returns the
 * flag to set when the kernel does not account storage I/O per task.
 */
#define RES_READ_IOAC(src, c)                                                         \
	({                                                                            \
		__u32 _flags = PI_RES_F_NO_IOAC;                                      \
		if (bpf_core_field_exists(src->ioac)) {                               \
			(c)->rchar = BPF_CORE_READ(src, ioac.rchar);                  \
			(c)->wchar = BPF_CORE_READ(src, ioac.wchar);                  \
			if (bpf_core_field_exists(src->ioac.syscr)) {                 \
				(c)->syscr = BPF_CORE_READ(src, ioac.syscr);          \
				(c)->syscw = BPF_CORE_READ(src, ioac.syscw);          \
			}                                                             \
			if (bpf_core_field_exists(src->ioac.read_bytes)) {            \
				(c)->read_bytes = BPF_CORE_READ(src, ioac.read_bytes); \
				(c)->write_bytes = BPF_CORE_READ(src, ioac.write_bytes); \
				(c)->cancelled_write_bytes =                          \
					BPF_CORE_READ(src, ioac.cancelled_write_bytes);   \
				_flags = 0;                                           \
			}                                                             \
		}                                                                     \
		_flags;                                                               \
	})

/*
 * One thread's own counters. se.sum_exec_runtime is the precise on-CPU time (ns, updated at every
 * switch and tick); utime/stime are tick samples (with CONFIG_TICK_CPU_ACCOUNTING a whole tick goes
 * to whichever mode the tick caught), so user space uses only their ratio to split sum_exec_runtime,
 * the way the kernel's cputime_adjust() does for /proc/PID/stat.
 */
static __always_inline __u32 res_read_task(struct task_struct *t, struct pi_res_counters *c)
{
	c->oncpu_ns = BPF_CORE_READ(t, se.sum_exec_runtime);
	c->utime_ns = BPF_CORE_READ(t, utime);
	c->stime_ns = BPF_CORE_READ(t, stime);
	c->nvcsw = BPF_CORE_READ(t, nvcsw);
	c->nivcsw = BPF_CORE_READ(t, nivcsw);
	c->min_flt = BPF_CORE_READ(t, min_flt);
	c->maj_flt = BPF_CORE_READ(t, maj_flt);
	return RES_READ_IOAC(t, c);
}

/* What the threads of a process that are gone left behind (__exit_signal() adds them here). */
static __always_inline __u32 res_read_signal(struct signal_struct *s, struct pi_res_counters *c)
{
	c->oncpu_ns = BPF_CORE_READ(s, sum_sched_runtime);
	c->utime_ns = BPF_CORE_READ(s, utime);
	c->stime_ns = BPF_CORE_READ(s, stime);
	c->nvcsw = BPF_CORE_READ(s, nvcsw);
	c->nivcsw = BPF_CORE_READ(s, nivcsw);
	c->min_flt = BPF_CORE_READ(s, min_flt);
	c->maj_flt = BPF_CORE_READ(s, maj_flt);
	return RES_READ_IOAC(s, c);
}

/* Adds one thread's counters into acc (acc may be a map value). */
static __always_inline void res_add_task(struct task_struct *t, struct pi_res_counters *acc)
{
	struct pi_res_counters c = {};

	res_read_task(t, &c);
	acc->oncpu_ns += c.oncpu_ns;
	acc->utime_ns += c.utime_ns;
	acc->stime_ns += c.stime_ns;
	acc->nvcsw += c.nvcsw;
	acc->nivcsw += c.nivcsw;
	acc->min_flt += c.min_flt;
	acc->maj_flt += c.maj_flt;
	acc->rchar += c.rchar;
	acc->wchar += c.wchar;
	acc->syscr += c.syscr;
	acc->syscw += c.syscw;
	acc->read_bytes += c.read_bytes;
	acc->write_bytes += c.write_bytes;
	acc->cancelled_write_bytes += c.cancelled_write_bytes;
}

static __always_inline struct task_struct *res_walk_task(__u64 pos)
{
	return (struct task_struct *)(pos - bpf_core_field_offset(struct task_struct, thread_node));
}

/* res_sum_threads' walk, one thread a step, as bpf_loop's callback. */
struct res_walk {
	__u64 head, pos;
	struct pi_res_counters *acc;
	__u32 n, done;
};

static long res_walk_step(__u64 i, void *ctx)
{
	struct res_walk *w = ctx;

	if (w->pos == w->head || w->pos == 0) {
		w->done = 1;
		return 1;
	}
	struct task_struct *t = res_walk_task(w->pos);
	res_add_task(t, w->acc);
	w->pos = (__u64)BPF_CORE_READ(t, thread_node.next);
	w->n++;
	return 0;
}

/*
 * Adds every thread still on the process's list (signal->thread_head, linked through
 * task->thread_node, what the kernel's for_each_thread() follows) into acc; returns how many, and
 * counts a cut walk as lost. Threads leave the list in __exit_signal(), in the same step that folds
 * their counters into signal_struct, so signal + the listed threads is the whole process (as
 * thread_group_cputime() and /proc/PID/io count it); without the kernel's seqlock a thread leaving
 * at this very moment can be missed or counted twice. At a process's last exit only threads still
 * on their way out are listed, so PI_RES_WALK_MAX is plenty.
 *
 * This runs in keytime's exit hook, the lifecycle core, which must load on kernels older than
 * bpf_loop (5.17): there a bounded loop, which the verifier checks PI_RES_WALK_MAX times over (~40
 * ms of every load with resource); with bpf_loop, the same steps, checked once.
 */
static __always_inline __u32 res_sum_threads(struct signal_struct *sig, struct pi_res_counters *acc)
{
	__u64 head = (__u64)sig + bpf_core_field_offset(struct signal_struct, thread_head);
	__u64 pos = (__u64)BPF_CORE_READ(sig, thread_head.next);
	__u32 n;

	if (pi_bpf_loop) {
		struct res_walk w = { .head = head, .pos = pos, .acc = acc };

		bpf_loop(PI_RES_WALK_MAX, res_walk_step, &w, 0);
		if (!w.done && w.pos != head)
			pi_count_lost(PI_LOST_RES_WALK_CUT);
		return w.n;
	}
	for (n = 0; n < PI_RES_WALK_MAX; n++) {
		if (pos == head || pos == 0)
			return n;
		struct task_struct *t = res_walk_task(pos);
		res_add_task(t, acc);
		pos = (__u64)BPF_CORE_READ(t, thread_node.next);
	}
	if (pos != head)
		pi_count_lost(PI_LOST_RES_WALK_CUT);
	return n;
}

/*
 * mm->rss_stat changed in 6.2: an array of percpu_counter since, a struct mm_rss_stat of atomics
 * before (with per-task caches folded in only now and then). The ___old flavour matches the latter;
 * bpf_core_type_exists() picks the one this kernel has, at load.
 */
struct mm_rss_stat___old {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

/* The anonymous enum of mm_types_task.h (no type name for CO-RE to match), unchanged since 4.5. */
#define RES_MM_FILEPAGES 0
#define RES_MM_ANONPAGES 1
#define RES_MM_SWAPENTS 2
#define RES_MM_SHMEMPAGES 3

/*
 * One rss counter as get_mm_counter() reads it: the percpu_counter's `count`, without the per-CPU
 * deltas not yet folded in (off by up to the batch, >= 32 pages, per CPU), flagged as such. The
 * sampler (resource.bpf.c) adds those deltas; the exit hook, which must stay a plain program of the
 * lifecycle core, takes this.
 */
#define RES_RSS_COUNT(mm, idx, flags)                                                              \
	({                                                                                   \
		__s64 _c;                                                                    \
		if (bpf_core_type_exists(struct mm_rss_stat___old))                          \
			_c = BPF_CORE_READ((struct mm_struct___old *)(mm), rss_stat.count[idx].counter); \
		else                                                                         \
			_c = BPF_CORE_READ(mm, rss_stat[idx].count);                         \
		*(flags) |= PI_RES_F_RSS_APPROX;                                             \
		_c > 0 ? (__u64)_c : 0;                                                      \
	})

/* The sample's head and the thread's own counters. */
static __always_inline void res_fill_thread(struct pi_res_sample *s, struct task_struct *t, __u64 now)
{
	s->kind = PI_RES_THREAD;
	s->pid = BPF_CORE_READ(t, pid);
	s->tgid = BPF_CORE_READ(t, tgid);
	s->flags = res_read_task(t, &s->c);
	if (BPF_CORE_READ(t, flags) & 0x00200000 /* PF_KTHREAD */)
		s->flags |= PI_RES_F_KTHREAD;
	/* a zombie (or dead) task: its figures are final (seen here when the exit hook was not attached) */
	if (BPF_CORE_READ(t, exit_state))
		s->flags |= PI_RES_F_EXITED;
	s->ts_ns = now;
	s->start_ns = BPF_CORE_READ(t, start_time);
	BPF_CORE_READ_STR_INTO(&s->comm, t, comm);
}

#endif /* RESOURCE_BPF_H */
