// SPDX-License-Identifier: GPL-2.0
/*
 * resource: CPU, memory, I/O, faults and context switches of the targets, sampled.
 *
 * The kernel already counts all of it in each task_struct, signal_struct and mm_struct; this object
 * only reads those counters, once per --interval, through a task iterator that user space runs
 * (read(2) of an iterator fd). Nothing is attached to any hook that runs while processes work, so
 * the processes pay nothing for being watched, whatever they do. A task's last figures at exit are
 * taken by keytime's exit hook (resource_exit.bpf.h).
 *
 * Each target thread gives one PI_RES_THREAD sample; each process, at its group leader, one
 * PI_RES_GROUP sample: its dead threads' counters and its memory. User space adds them up the way
 * /proc/PID/stat and /proc/PID/io do.
 */
#include "resource.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* The largest CPU count x86 builds for (MAXSMP); the sum stops at the first CPU number past nr_cpu_ids. */
#define RES_MAX_CPUS 8192

/*
 * Finding another CPU's copy of a per-CPU variable. The usual ways are closed on kernels like the
 * development machines': typed ksyms of variables (this_cpu_off, __per_cpu_offset) need their
 * addresses in kallsyms (CONFIG_KALLSYMS_ALL), and bpf_per_cpu_ptr() on a struct field needs
 * __percpu type tags in BTF (a clang-built kernel). A BPF per-CPU array gives the offsets instead:
 * its slot is one per-CPU allocation, `pptrs[0]` in its struct bpf_array, and
 * bpf_map_lookup_percpu_elem() returns that allocation's address on a given CPU — the difference is
 * the CPU's per-CPU offset (__per_cpu_offset[cpu]), which applies to every per-CPU pointer.
 * Reading raw addresses needs CAP_PERFMON (the verifier's pointer-leak rule), which procimage has.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} resource_pcpu_probe SEC(".maps");

/* The value of a pointer, as a plain number (read back from the stack, so the verifier lets it go). */
static __always_inline __u64 res_addr(void *p)
{
	__u64 a = 0;

	bpf_probe_read_kernel(&a, sizeof(a), &p);
	return a;
}

/* The per-CPU base of resource_pcpu_probe's slot: struct bpf_array.pptrs[0]. */
static __always_inline __u64 res_pcpu_base(void)
{
	__u64 base = 0;
	__u64 arr = res_addr(&resource_pcpu_probe);

	bpf_probe_read_kernel(&base, sizeof(base),
			      (const void *)(arr + bpf_core_field_offset(struct bpf_array, pptrs)));
	return base;
}

struct pcpu_sum {
	__u64 base;     /* res_pcpu_base() */
	__u64 counters; /* the percpu_counter's `counters`: a per-CPU pointer */
	__s64 sum;
	__u32 failed;
};

static long pcpu_sum_cb(__u32 cpu, void *ctx)
{
	struct pcpu_sum *x = ctx;
	__u32 zero = 0;
	void *slot = bpf_map_lookup_percpu_elem(&resource_pcpu_probe, &zero, cpu);
	__s32 v = 0;

	if (!slot)
		return 1;
	if (bpf_probe_read_kernel(&v, sizeof(v), (const void *)(x->counters + (res_addr(slot) - x->base)))) {
		x->failed = 1;
		return 1;
	}
	x->sum += v;
	return 0;
}

/*
 * The exact value of a percpu_counter: its count plus every CPU's not yet folded delta, as
 * percpu_counter_sum() computes it (and /proc/PID/status since 6.16); `count` alone can be off by up
 * to the batch (>= 32 pages) per CPU. Falls back to `count`, flagged, if the per-CPU base is unknown.
 */
static __always_inline __u64 res_percpu_counter(struct percpu_counter *fbc, __u64 base, __u32 *flags)
{
	struct pcpu_sum x = {
		.base = base,
		.counters = (__u64)BPF_CORE_READ(fbc, counters),
		.sum = BPF_CORE_READ(fbc, count),
	};

	/* bpf_map_lookup_percpu_elem() is 5.19+: before, the branch is cut at load and `count` is used */
	if (x.counters && x.base && bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_map_lookup_percpu_elem))
		bpf_loop(RES_MAX_CPUS, pcpu_sum_cb, &x, 0);
	else
		x.failed = 1;
	if (x.failed) {
		x.sum = BPF_CORE_READ(fbc, count);
		*flags |= PI_RES_F_RSS_APPROX;
	}
	return x.sum > 0 ? x.sum : 0;
}

/*
 * A literal index, so that CO-RE relocates the array element with the kernel's element size. Before
 * 6.2 the counters are plain atomics, read as the exit hook reads them (RES_RSS_COUNT).
 */
#define RES_RSS(mm, idx, base, flags)                                                              \
	(bpf_core_type_exists(struct mm_rss_stat___old) ? RES_RSS_COUNT(mm, idx, flags)        \
							 : res_percpu_counter(&(mm)->rss_stat[idx], base, flags))

static __always_inline void res_read_mm(struct mm_struct *mm, struct pi_res_mem *m, __u32 *flags)
{
	__u64 base = res_pcpu_base();

	m->file_pages = RES_RSS(mm, RES_MM_FILEPAGES, base, flags);
	m->anon_pages = RES_RSS(mm, RES_MM_ANONPAGES, base, flags);
	m->swap_pages = RES_RSS(mm, RES_MM_SWAPENTS, base, flags);
	m->shmem_pages = RES_RSS(mm, RES_MM_SHMEMPAGES, base, flags);
	m->vm_pages = BPF_CORE_READ(mm, total_vm);
	m->hiwater_rss_pages = BPF_CORE_READ(mm, hiwater_rss);
	*flags |= PI_RES_F_MEM;
}

struct res_mm_walk {
	__u64 head;
	__u64 pos;
	__u64 mm;
};

static long mm_walk_cb(__u32 i, void *ctx)
{
	struct res_mm_walk *w = ctx;
	struct task_struct *t;

	if (w->pos == w->head || w->pos == 0)
		return 1;
	t = res_walk_task(w->pos);
	w->mm = (__u64)BPF_CORE_READ(t, mm);
	w->pos = (__u64)BPF_CORE_READ(t, thread_node.next);
	return w->mm ? 1 : 0;
}

/*
 * The process's mm. Usually the leader's; a leader that ended (pthread_exit from main) stays listed
 * as a zombie without one while its other threads run on: take theirs.
 */
static __always_inline struct mm_struct *res_process_mm(struct task_struct *leader)
{
	struct mm_struct *mm = BPF_CORE_READ(leader, mm);
	struct signal_struct *sig;

	if (mm || (BPF_CORE_READ(leader, flags) & 0x00200000 /* PF_KTHREAD */))
		return mm;
	sig = BPF_CORE_READ(leader, signal);
	struct res_mm_walk w = {
		.head = (__u64)sig + bpf_core_field_offset(struct signal_struct, thread_head),
		.pos = (__u64)BPF_CORE_READ(sig, thread_head.next),
	};
	bpf_loop(64, mm_walk_cb, &w, 0);
	return (struct mm_struct *)w.mm;
}

/* A process's own sample: its dead threads' counters (signal_struct) and its memory. */
static __always_inline void res_fill_group(struct pi_res_sample *s, struct task_struct *t, __u64 now)
{
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);
	struct mm_struct *mm;

	__builtin_memset(&s->c, 0, sizeof(s->c));
	__builtin_memset(&s->mem, 0, sizeof(s->mem));
	s->kind = PI_RES_GROUP;
	s->pid = BPF_CORE_READ(t, pid);
	s->tgid = BPF_CORE_READ(t, tgid);
	s->flags = res_read_signal(BPF_CORE_READ(t, signal), &s->c);
	if (BPF_CORE_READ(t, flags) & 0x00200000 /* PF_KTHREAD */)
		s->flags |= PI_RES_F_KTHREAD;
	/* every thread has passed do_exit()'s decrement of `live`: the process is ending, its figures final */
	if (BPF_CORE_READ(t, signal, live.counter) == 0)
		s->flags |= PI_RES_F_EXITED;
	s->ts_ns = now;
	s->start_ns = BPF_CORE_READ(leader, start_time);
	BPF_CORE_READ_STR_INTO(&s->comm, leader, comm);
	mm = res_process_mm(leader);
	if (mm)
		res_read_mm(mm, &s->mem, &s->flags);
}

/*
 * The policy the iterator samples by: a copy of pi_policy that the collector writes when collection
 * starts and clears after its last sample — its own, because that last sample is taken after
 * deactivation has put the ready state into pi_policy.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pi_policy);
} resource_policy SEC(".maps");

static __always_inline const struct pi_policy *res_policy(void)
{
	__u32 zero = 0;
	const struct pi_policy *p = bpf_map_lookup_elem(&resource_policy, &zero);

	return p && p->active ? p : 0;
}

/* Before 5.16 (and where THREAD_INFO_IN_TASK is off) the task's CPU was task_struct.cpu. */
struct task_struct___cpu_old {
	unsigned int cpu;
} __attribute__((preserve_access_index));

static __always_inline __u32 res_task_cpu(struct task_struct *t)
{
	if (bpf_core_field_exists(t->thread_info.cpu))
		return BPF_CORE_READ(t, thread_info.cpu);
	return BPF_CORE_READ((struct task_struct___cpu_old *)t, cpu);
}

/*
 * A -c target is a CPU's idle task, which is in no pid hash the iterator walks. Its rq is reached
 * instead through any task last on that CPU (its CFS run queue's rq): noted during the walk, used by
 * the iterator's last call. Global: one iterator runs at a time (the collector's poll).
 */
__u64 res_idle_rq = 0;

SEC("iter/task")
int resource_iter(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	const struct pi_policy *p = res_policy();
	struct pi_res_sample s = {};

	if (!p || !(p->categories & PI_CAT_RESOURCE))
		return 0;
	if (p->target_kind == PI_TARGET_CPU) {
		if (t) {
			if (!res_idle_rq && res_task_cpu(t) == p->target_id)
				res_idle_rq = (__u64)BPF_CORE_READ(t, se.cfs_rq, rq);
			return 0;
		}
		/* the last call, after every task */
		struct rq *rq = (struct rq *)res_idle_rq;
		res_idle_rq = 0;
		if (!rq)
			return 0;
		res_fill_thread(&s, BPF_CORE_READ(rq, idle), bpf_ktime_get_ns());
		bpf_seq_write(seq, &s, sizeof(s));
		return 0;
	}
	if (!t)
		return 0;

	__u32 pid = t->pid, tgid = t->tgid;
	if (!pi_is_target(p, pid, tgid, 0))
		return 0;
	__u64 now = bpf_ktime_get_ns();

	res_fill_thread(&s, t, now);
	bpf_seq_write(seq, &s, sizeof(s));
	/* a -p target's memory is its process's: it gets the group sample too */
	if (pid == tgid || p->target_kind == PI_TARGET_PID) {
		res_fill_group(&s, t, now);
		bpf_seq_write(seq, &s, sizeof(s));
	}
	return 0;
}
