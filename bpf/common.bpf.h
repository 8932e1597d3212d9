/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-only helpers every category includes: the maps all objects share, the live policy, the
 * target filter and the lost-event counters.
 *
 * Shared maps are named `pi_*`. Each object declares them (so it verifies on its own), and the loader
 * makes them once, from bpf/shared.bpf.c, then has every object reuse their fds (bpf_map__reuse_fd),
 * so there is one policy, one ring buffer and one set of counters however many categories are loaded.
 */
#ifndef COMMON_BPF_H
#define COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "procimage.h"

/* procimage's own process: excluded from "every thread" unless the policy sets myproc. */
const volatile __u32 pi_self_tgid = 0;

/*
 * The categories the session loaded (enum pi_category bits), set before load: no policy can ask for
 * another. Code tested against it (pi_cats) for a category not loaded is dead to the verifier, which
 * does not walk it: `trace -S` verifies keytime_switch without keytime's own stack copies, a third
 * of a second of its start-up.
 */
const volatile __u32 pi_loaded = ~0U;

/* The policy's categories, of those loaded. */
#define pi_cats(p) ((p)->categories & pi_loaded)

/*
 * Whether this kernel has bpf_loop (5.17+; src/bpf/features.ts), set before load. A bounded walk
 * whose body the verifier would otherwise check once per iteration uses it when it can (checked
 * once), and keeps the plain loop for older kernels, dead code here.
 */
const volatile __u32 pi_bpf_loop = 0;

/*
 * The one --stack mode (enum pi_stack_mode) every policy of the session will use, set before load
 * when it is known then (trace: its one policy); PI_STACK_ANY (attach): each policy's own. Like
 * pi_loaded, it makes the other modes' code dead to the verifier, which then does not walk it:
 * keytime_switch with every category verified the frame-pointer, copy and table paths alike. Read
 * through pi_stack_mode(); src/model/session.ts refuses a policy with another mode.
 */
#define PI_STACK_ANY 0xffffffffU
const volatile __u32 pi_stack_only = PI_STACK_ANY;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pi_policy);
} pi_policy SEC(".maps");

/* Every record that must be seen one by one. The loader sizes it (--ring-size) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} pi_events SEC(".maps");

/* Drops, by enum pi_lost_reason. Per-CPU so counting never contends. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PI_LOST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pi_lost SEC(".maps");

/*
 * The processes (tgids) that belong to a thread-group target: the target itself, set at activation,
 * and every process it forks after, recursively. A bitmap indexed by tgid, one bit per pid up to
 * pid_max (the loader sizes it), because this test runs for every non-target event of every process
 * on hot hooks: an inlined array lookup and a mask cost next to nothing, a hash lookup does not.
 * A process's bit is cleared at its last thread's final switch (keytime_last_switch), not at its
 * exit hook: do_exit() goes on working for the target after sched_process_exit (exit_mm's teardown).
 * A bit left set when no such switch was seen is cleared at the fork that recycles the pid, before
 * the new process runs (keytime_fork), so a recycled pid never becomes a target.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, (4 << 20) / 64);
	__type(key, __u32);
	__type(value, __u64);
} pi_follow SEC(".maps");

/*
 * Ring records per enum pi_event_type: submitted, and dropped because the ring was full. With
 * them user space can prove that what it received is what the kernel sent, type by type.
 */
#define PI_EVENT_TYPES 64

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PI_EVENT_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} pi_sent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PI_EVENT_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} pi_lost_type SEC(".maps");

/*
 * A hash over u64 words (stacks, the words a walk read): FNV-1a's multiply on whole words, with a
 * shift to fold the high bits back into the low ones, which the multiply alone never changes.
 */
#define PI_MIX_SEED 0xcbf29ce484222325ULL

static __always_inline __u64 pi_mix(__u64 h, __u64 v)
{
	h = (h ^ v) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

_Static_assert(PI_KSTACK_MAX == PI_USTACK_MAX, "frames_hash bounds both by PI_KSTACK_MAX");

/* A run of frames' hash: a stack's part of a stacks sig (keytime.bpf.c). */
struct frames_hash {
	const __u64 *w;
	__u32 n;
	__u64 h;
};

static long frames_hash_word(__u64 i, struct frames_hash *c)
{
	if (i >= c->n || i >= PI_KSTACK_MAX)
		return 1;
	c->h = pi_mix(c->h, c->w[i]);
	return 0;
}

/* PI_KSTACK_MAX == PI_USTACK_MAX: one bound serves both */
static __always_inline __u64 frames_hash(const __u64 *w, __u32 bytes, __u64 seed)
{
	struct frames_hash c = { .w = w, .n = bytes / 8, .h = seed };

	bpf_loop(PI_KSTACK_MAX, frames_hash_word, &c, 0);
	return c.h;
}

static __always_inline void pi_count(void *map, __u32 idx)
{
	__u64 *n = bpf_map_lookup_elem(map, &idx);

	if (n)
		*n += 1;
}

static __always_inline void pi_count_lost(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&pi_lost, &reason);

	if (n)
		*n += 1;
}

/* The policy when collection is active, else NULL: the first thing every program asks. */
static __always_inline const struct pi_policy *pi_active_policy(void)
{
	__u32 zero = 0;
	const struct pi_policy *p = bpf_map_lookup_elem(&pi_policy, &zero);

	return p && p->active ? p : 0;
}

/* The policy's --stack mode: pi_stack_only when the session was loaded for one. */
static __always_inline __u32 pi_stack_mode(const struct pi_policy *p)
{
	return pi_stack_only != PI_STACK_ANY ? pi_stack_only : p->stack_mode;
}

static __always_inline int pi_followed(__u32 tgid)
{
	__u32 word = tgid / 64;
	__u64 *bits = bpf_map_lookup_elem(&pi_follow, &word);

	return bits && (*bits & (1ULL << (tgid % 64)));
}

/* Returns 0, or -1 when tgid is beyond the bitmap (pid_max grew after load): counted as lost. */
static __always_inline int pi_follow_set(__u32 tgid, int on)
{
	__u32 word = tgid / 64;
	__u64 *bits = bpf_map_lookup_elem(&pi_follow, &word);

	if (!bits) {
		if (on)
			pi_count_lost(PI_LOST_FOLLOW_FULL);
		return -1;
	}
	if (on)
		__sync_fetch_and_or(bits, 1ULL << (tgid % 64));
	else
		__sync_fetch_and_and(bits, ~(1ULL << (tgid % 64)));
	return 0;
}

static __always_inline int pi_is_target(const struct pi_policy *p, __u32 pid, __u32 tgid, __u32 cpu)
{
	switch (p->target_kind) {
	case PI_TARGET_ALL:
		return pid != 0 && (p->myproc || tgid != pi_self_tgid);
	case PI_TARGET_PID:
		return pid == p->target_id;
	case PI_TARGET_TGID:
		return pi_followed(tgid);
	case PI_TARGET_CPU:
		return pid == 0 && cpu == p->target_id;
	}
	/*
	 * A cgroup or container target: membership per thread, kept by bpf/cgroup.bpf.h's hooks. Past
	 * the switch, so that the other kinds' tests compile to the compares they had without it.
	 */
	return p->target_kind >= PI_TARGET_CGROUP && pi_followed(pid);
}

static __always_inline int pi_task_is_target(const struct pi_policy *p, struct task_struct *t)
{
	return pi_is_target(p, BPF_CORE_READ(t, pid), BPF_CORE_READ(t, tgid), bpf_get_smp_processor_id());
}

/* Reserves a ring-buffer record of an enum pi_event_type, counting it, or its drop if the ring is full. */
static __always_inline void *pi_reserve(__u64 size, __u32 type)
{
	void *e = bpf_ringbuf_reserve(&pi_events, size, 0);

	if (!e) {
		pi_count_lost(PI_LOST_RINGBUF);
		pi_count(&pi_lost_type, type);
	} else {
		pi_count(&pi_sent, type);
	}
	return e;
}

/*
 * When to wake the reader. A record submitted with flag 0 wakes it whenever it has caught up, so a
 * sparse stream woke it for every record, and at the worst moment: a switch-in record is written
 * as the target gets the CPU, and the wakeup (an irq_work on that CPU) had the reader's drain
 * thread, then its main thread, preempt the target right after its own wakeup. So:
 *  - lifecycle records (fork, exec, exit) wake it at once (PI_WAKE_NOW): few, each behind a fork or
 *    an exit that costs far more than a wakeup, and the ones a person or a test waits for;
 *  - every other record (PI_WAKE_LATER) wakes nobody itself. The first one after a wakeup arms a
 *    timer that wakes the reader PI_WAKE_DELAY_NS later, with whatever has gathered by then: at most
 *    one wakeup per delay however many records, none while nothing is written, and at a time that
 *    has nothing to do with the target's switches;
 *  - a record that takes the ring's unread data past pi_wake_bytes wakes it at once: the ring must
 *    not fill before the timer (the loader sets this from the ring's size).
 */
#define PI_WAKE_DELAY_NS (4 * 1000 * 1000)
#define PI_CLOCK_MONOTONIC 1

const volatile __u64 pi_wake_bytes = 512 << 10;

enum { PI_WAKE_LATER, PI_WAKE_NOW };

/* Per object (not a shared pi_ map): a timer's callback belongs to the object that set it. */
struct pi_wake_timer {
	struct bpf_timer timer;
	__u32 armed;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pi_wake_timer);
} wake_timer SEC(".maps");

/* The timer fired: wake the reader, unless something else woke it and it has read everything. */
static int pi_wake_fired(void *map, __u32 *key, struct pi_wake_timer *w)
{
	w->armed = 0;
	if (bpf_ringbuf_query(&pi_events, BPF_RB_AVAIL_DATA) == 0)
		return 0;
	/* only a record carries a wakeup: an empty one, discarded (the reader skips it) */
	void *e = bpf_ringbuf_reserve(&pi_events, 8, 0);
	if (e)
		bpf_ringbuf_discard(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

static __always_inline void pi_wake_soon(void)
{
	__u32 zero = 0;
	struct pi_wake_timer *w = bpf_map_lookup_elem(&wake_timer, &zero);

	if (!w || w->armed || __sync_val_compare_and_swap(&w->armed, 0, 1))
		return;
	bpf_timer_init(&w->timer, &wake_timer, PI_CLOCK_MONOTONIC); /* -EBUSY after the first time */
	bpf_timer_set_callback(&w->timer, pi_wake_fired);
	if (bpf_timer_start(&w->timer, PI_WAKE_DELAY_NS, 0))
		w->armed = 0;
}

static __always_inline void pi_submit(void *e, __u64 size, int wake)
{
	if (wake == PI_WAKE_NOW) {
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
		return;
	}
	/*
	 * Only around the crossing: each forced wakeup is an irq_work, and past it the reader is on its
	 * way. The window is this record and a page more, for what other CPUs reserve meanwhile; one
	 * that misses it still has the timer.
	 */
	__u64 unread = bpf_ringbuf_query(&pi_events, BPF_RB_AVAIL_DATA);
	if (unread >= pi_wake_bytes && unread < pi_wake_bytes + size + BPF_RINGBUF_HDR_SZ + 4096) {
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
		return;
	}
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	pi_wake_soon();
}

static __always_inline void pi_fill_hdr(struct pi_event_hdr *h, __u32 type, struct task_struct *t)
{
	h->type = type;
	h->cpu = bpf_get_smp_processor_id();
	h->pid = BPF_CORE_READ(t, pid);
	h->tgid = BPF_CORE_READ(t, tgid);
	h->ts_ns = bpf_ktime_get_ns();
	BPF_CORE_READ_STR_INTO(&h->comm, t, comm);
}

/*
 * Never called. Its parameter holds every boundary type by value, so clang emits all of procimage.h into each
 * object's BTF (a struct used only through a local pointer is not emitted), and tools/gen-layout.ts
 * can generate the TypeScript offsets from it. Add each new struct or enum of procimage.h here; the
 * generator fails, naming it, if one is missing.
 */
struct pi_btf_types {
	struct pi_policy policy;
	struct pi_event_hdr hdr;
	struct pi_fork_event fork;
	struct pi_exec_event exec;
	struct pi_exit_event exit;
	struct pi_switch_out_event switch_out;
	struct pi_switch_out_dwarf_event switch_out_dwarf;
	struct pi_switch_in_event switch_in;
	struct pi_task_now task_now;
	struct pi_offcpu_agg_key offcpu_agg_key;
	struct pi_offcpu_agg offcpu_agg;
	struct pi_waker_event waker;
	struct pi_waker_dwarf_event waker_dwarf;
	struct pi_migrate_event migrate;
	enum pi_waker_flags waker_flags;
	struct pi_sched_stats sched_stats;
	struct pi_sched_key sched_key;
	struct pi_sched_thread sched_thread;
	enum pi_stack_mode stack_mode;
	enum pi_ustack_stop ustack_stop;
	struct pi_unwind_row unwind_row;
	struct pi_unwind_map unwind_map;
	struct pi_unwind_proc unwind_proc;
	struct pi_sc_thread sc_thread;
	struct pi_sc_slot sc_slot;
	struct pi_sc_ctl sc_ctl;
	struct pi_sc_key sc_key;
	struct pi_sc_stat sc_stat;
	struct pi_sc_errno_key sc_errno_key;
	struct pi_syscall_seq_event syscall_seq;
	struct pi_lock_stack_event lock_stack;
	struct pi_lock_exec_event lock_exec;
	struct pi_lock_key lock_key;
	struct pi_lock_stat lock_stat;
	struct pi_lock_call lock_call;
	struct pi_lock_owner_key lock_owner_key;
	struct pi_lock_owner lock_owner;
	struct pi_thread_addr thread_addr;
	struct pi_lock_hold lock_hold;
	enum pi_lock_kind lock_kind;
	enum pi_lock_op lock_op;
	enum pi_category category;
	enum pi_target_kind target_kind;
	enum pi_event_type event_type;
	enum pi_lost_reason lost_reason;
	enum pi_kstack_stat kstack_stat;
	struct pi_res_counters res_counters;
	struct pi_res_mem res_mem;
	struct pi_res_sample res_sample;
	struct pi_res_exit_key res_exit_key;
	struct pi_res_exit res_exit;
	enum pi_res_kind res_kind;
	enum pi_res_flags res_flags;
};

__attribute__((used)) int pi_btf_anchor(struct pi_btf_types *t)
{
	return 0;
}

#endif /* COMMON_BPF_H */
