/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keytime's wakers: who ended each off-CPU interval of a target that slept (S, D, ...), and when.
 *
 * tp_btf/sched_waking runs in try_to_wake_up() in the waker's own context (sched_wakeup may run
 * later, on the wakee's CPU, from an IPI: no longer the waker's), with the wakee's pi_lock held and
 * interrupts off — so it never nests with itself or with sched_switch on a CPU, and the per-CPU
 * unwinder scratch (unwind.bpf.h) is free. It runs for every wake-up of every task: everything but
 * the target test is behind it (two loads from the wakee, the follow bitmap).
 *
 * For a target wakee it keeps the wake-up in the wakee's task storage (the switch-in that ends the
 * interval copies it into its record: waker_fill) and sends a pi_waker_event with the waker's
 * stacks: the kernel one always (user space tells an interrupt or softirq from it), the user one
 * when the waker is a target too, as its switch-outs' are taken (frame pointers; or .eh_frame
 * tables unwound here, and where the process has none yet, its registers and a copy of its stack top
 * for user space to unwind, under the same budget). The waker is in its own context, in the call
 * that woke (a write, an unlock): bpf_task_pt_regs() of it are its user registers at that syscall.
 */
#ifndef WAKER_BPF_H
#define WAKER_BPF_H

#include "sched.bpf.h"
#include "unwind.bpf.h"

/*
 * The record is assembled here, then copied into the ring at the size its frames need: the kernel
 * stack's depth is known only once it is taken. Per CPU: the program runs with interrupts off.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pi_waker_event);
} waker_scratch SEC(".maps");

static __always_inline void waker_head(void *ctx, struct pi_waker_event *e, struct task_struct *w,
				       struct task_struct *t, __u64 now, __u32 flags)
{
	e->hdr.type = PI_EV_WAKER; /* pi_fill_hdr but its clock read: the wake-up's is `now` */
	e->hdr.cpu = bpf_get_smp_processor_id();
	e->hdr.pid = w->pid;
	e->hdr.tgid = w->tgid;
	e->hdr.ts_ns = now;
	bpf_get_current_comm(e->hdr.comm, sizeof(e->hdr.comm));
	e->wakee_pid = t->pid;
	e->wakee_tgid = t->tgid;
	e->flags = flags;
	long n = bpf_get_stack(ctx, e->frames, PI_KSTACK_MAX * 8, 0);
	e->kstack_bytes = n > 0 ? n : 0;
	e->ustack_bytes = 0;
	e->stack_mode = PI_STACK_NONE;
	e->ustack_stop = PI_USTACK_END;
	e->pad = 0;
	e->exe_ino = 0;
}

/* Where the user frames go: right after the kernel's (a bounded index, for the verifier). */
static __always_inline __u32 waker_ufirst(const struct pi_waker_event *e)
{
	__u32 k = e->kstack_bytes / 8;

	if (k > PI_KSTACK_MAX)
		k = PI_KSTACK_MAX;
	barrier_var(k);
	return k;
}

/* The waker's user stack as the kernel unwound it (st), or by frame pointers. */
static __always_inline void waker_ustack(void *ctx, struct pi_waker_event *e, struct task_struct *w, __u32 mode,
					 struct uw_state *st)
{
	__u32 k = waker_ufirst(e);

	e->exe_ino = BPF_CORE_READ(w, mm, exe_file, f_inode, i_ino);
	e->stack_mode = mode;
	if (mode == PI_STACK_FP) {
		long n = bpf_get_stack(ctx, &e->frames[k], PI_USTACK_MAX * 8, BPF_F_USER_STACK);
		e->ustack_bytes = n > 0 ? n : 0;
	} else if (st) {
		__u32 n = st->n;
		if (n > PI_USTACK_MAX)
			n = PI_USTACK_MAX;
		bpf_probe_read_kernel(&e->frames[k], PI_USTACK_MAX * 8, st->pcs);
		e->ustack_bytes = n * 8;
		e->ustack_stop = st->status == UW_MAX ? PI_USTACK_MAX_FRAMES : PI_USTACK_END;
	} else if (mode == PI_STACK_DWARF) {
		e->ustack_stop = PI_USTACK_NOT_TAKEN; /* no tables, and no copy (over the budget) */
	}
}

/* Sends the assembled record at the smallest size that holds its frames. */
static __always_inline void waker_send(const struct pi_waker_event *sc)
{
	__u32 n = (sc->kstack_bytes + sc->ustack_bytes) / 8;
	void *e;

	/* one reserve per size: the ring wants a constant */
	if (n <= 16) {
		if ((e = pi_reserve(PI_WAKER_SIZE(16), PI_EV_WAKER))) {
			bpf_probe_read_kernel(e, PI_WAKER_SIZE(16), sc);
			pi_submit(e, PI_WAKER_SIZE(16), PI_WAKE_LATER);
		}
	} else if (n <= 32) {
		if ((e = pi_reserve(PI_WAKER_SIZE(32), PI_EV_WAKER))) {
			bpf_probe_read_kernel(e, PI_WAKER_SIZE(32), sc);
			pi_submit(e, PI_WAKER_SIZE(32), PI_WAKE_LATER);
		}
	} else if (n <= 64) {
		if ((e = pi_reserve(PI_WAKER_SIZE(64), PI_EV_WAKER))) {
			bpf_probe_read_kernel(e, PI_WAKER_SIZE(64), sc);
			pi_submit(e, PI_WAKER_SIZE(64), PI_WAKE_LATER);
		}
	} else if ((e = pi_reserve(sizeof(*sc), PI_EV_WAKER))) {
		bpf_probe_read_kernel(e, sizeof(*sc), sc);
		pi_submit(e, sizeof(*sc), PI_WAKE_LATER);
	}
}

/* The waker's registers (at its syscall's entry) and the top of its stack, as a switch-out's copy. */
static __always_inline void waker_copy(struct pi_waker_dwarf_event *d, struct task_struct *w)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(w);
	__u32 pages = 0;

	d->w.hdr.type = PI_EV_WAKER_DWARF;
	d->w.stack_mode = PI_STACK_DWARF;
	d->w.exe_ino = BPF_CORE_READ(w, mm, exe_file, f_inode, i_ino);
	d->ip = BPF_CORE_READ(regs, ip);
	d->sp = BPF_CORE_READ(regs, sp);
	d->bp = BPF_CORE_READ(regs, bp);
	d->bx = BPF_CORE_READ(regs, bx);
	d->r12 = BPF_CORE_READ(regs, r12);
	d->r13 = BPF_CORE_READ(regs, r13);
	d->r14 = BPF_CORE_READ(regs, r14);
	d->r15 = BPF_CORE_READ(regs, r15);
	d->stack_base = d->sp & ~(__u64)(PI_PAGE - 1);
	d->pad = 0;
	if (bpf_probe_read_user(d->stack, sizeof(d->stack), (void *)d->stack_base) == 0) {
		pages = PI_STACK_PAGES;
	} else { /* near the top of the stack: page by page, up to the first that fails */
		for (int i = 0; i < PI_STACK_PAGES; i++) {
			if (bpf_probe_read_user(d->stack + i * PI_PAGE, PI_PAGE, (void *)(d->stack_base + i * PI_PAGE)))
				break;
			pages++;
		}
	}
	d->stack_bytes = pages * PI_PAGE;
}

/* A waker that is a target: its user stack, unwound here, by frame pointers, or copied. */
static __always_inline void waker_target_event(void *ctx, const struct pi_policy *p, struct pi_waker_event *sc,
					       struct task_struct *w, __u64 now)
{
	__u32 mode = pi_stack_mode(p);
	/* its own memo: the waker's switch-outs keep theirs (unwind.bpf.h) */
	struct uw_state *st = mode == PI_STACK_DWARF ? unwind_user_memo(w, w->pid | UW_MEMO_OTHER) : NULL;
	int copy = (mode == PI_STACK_DWARF && !st) || mode == PI_STACK_DWARF_COPY;

	/*
	 * Over the copy budget the waker's record goes without a user stack (stack_mode DWARF, no
	 * frames, PI_USTACK_NOT_TAKEN: user space shows it as none). Not counted in PI_LOST_USTACK_BUDGET,
	 * which counts the intervals without theirs.
	 */
	if (copy && !unwind_may_copy(now))
		copy = 0;
	if (copy) {
		struct pi_waker_dwarf_event *d = pi_reserve(sizeof(*d), PI_EV_WAKER_DWARF);
		if (!d)
			return;
		bpf_probe_read_kernel(&d->w, sizeof(d->w), sc);
		waker_copy(d, w);
		pi_submit(d, sizeof(*d), PI_WAKE_LATER);
		return;
	}
	waker_ustack(ctx, sc, w, mode == PI_STACK_DWARF_COPY ? PI_STACK_NONE : mode, st);
	waker_send(sc);
}

SEC("tp_btf/sched_waking")
int BPF_PROG(keytime_waking, struct task_struct *t)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p || !(pi_cats(p) & PI_CAT_KEYTIME))
		return 0;
	__u32 cpu = bpf_get_smp_processor_id();
	if (!pi_is_target(p, t->pid, t->tgid, cpu) || t->__state == PI_TASK_RUNNING)
		return 0;
	struct pi_task_state *s = pi_task_state(t, p->generation, 0);
	if (!s) /* never seen leaving the CPU in this activation: no interval to end */
		return 0;
	struct task_struct *w = bpf_get_current_task_btf();
	__u64 now = bpf_ktime_get_ns();
	__u32 flags = w->flags & PI_PF_KTHREAD || w->pid == 0 ? PI_WAKER_KTHREAD : 0;
	if (!flags && pi_is_target(p, w->pid, w->tgid, cpu))
		flags |= PI_WAKER_TARGET;
	s->wake_ns = now;
	s->waker_pid = w->pid;
	s->waker_tgid = w->tgid;
	s->waker_flags = flags;
	/*
	 * --offcpu-min: the waker's stacks (a kernel stack, maybe a walk, a record) only for a sleep that
	 * will be an offcpu record of its own: its switch-out sent one (the first of its stacks), or it
	 * has lasted the threshold already. A shorter one is
	 * most likely counted with the short intervals, whose aggregate keeps the waker's identity (from
	 * the task storage above), not its stacks; one that then waits for a CPU past the threshold
	 * names its waker without stacks.
	 */
	if (p->offcpu_min_ns && s->off_ns && !s->out_sent && now - s->off_ns < p->offcpu_min_ns)
		return 0;

	__u32 zero = 0;
	struct pi_waker_event *sc = bpf_map_lookup_elem(&waker_scratch, &zero);
	if (!sc)
		return 0;
	waker_head(ctx, sc, w, t, now, flags);
	if (flags & PI_WAKER_TARGET)
		waker_target_event(ctx, p, sc, w, now);
	else
		waker_send(sc);
	return 0;
}

/*
 * Whether the task's latest wake-up ended the sleep that began at off_start. sched_waking fires only
 * for a task in a sleeping state (ttwu's state match), so any wake-up since it last got the CPU
 * (on_prev) was for this sleep, or for one it set up and abandoned before it (a later one then
 * replaced it). That includes a wake-up before off_start: one from another CPU between __schedule
 * dequeuing the task and the tracepoint (ttwu then waits for the switch to finish): on 2 CPUs a
 * pipe ping-pong shows it. Without a known on_prev, only wake-ups after off_start count.
 */
static __always_inline int waker_ended(const struct pi_task_state *s, __u64 off_start)
{
	return s->wake_ns && s->wake_ns >= (s->on_prev ? s->on_prev : off_start);
}

/* The interval that began at off_start, left in state, was a sleep that a wake-up ended (not a preemption). */
static __always_inline int waker_woke(const struct pi_task_state *s, __u64 off_start, __u32 state, __u32 preempt)
{
	return s && off_start && state != PI_TASK_RUNNING && !preempt && waker_ended(s, off_start);
}

/*
 * The switch-in of a task ends the off-CPU interval that began at off_start: the wake-up that ended
 * it, if it slept (a preempted one may be "woken" too, if it was preempted on its way to sleep: not
 * what ended its wait). Which wake-up: waker_ended.
 */
static __always_inline void waker_fill(struct pi_switch_in_event *e, const struct pi_task_state *s, __u64 off_start,
				       __u32 state, __u32 preempt)
{
	int woken = waker_woke(s, off_start, state, preempt);

	e->wake_ns = woken ? s->wake_ns : 0;
	e->waker_pid = woken ? s->waker_pid : 0;
	e->waker_tgid = woken ? s->waker_tgid : 0;
	e->waker_flags = woken ? s->waker_flags : 0;
	e->pad2 = 0;
}

#endif /* WAKER_BPF_H */
