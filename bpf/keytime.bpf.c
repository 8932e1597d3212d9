// SPDX-License-Identifier: GPL-2.0
/*
 * keytime: the key time points of a task's life — fork/clone, exec, exit — and every on-CPU and
 * off-CPU interval, with the stacks that say why a thread left the CPU.
 *
 * These hooks are also the core other categories stand on: with a thread-group target, fork adds
 * every new child process to the followed set (and takes a recycled pid out of it), so it is
 * attached whenever the policy follows a thread group; a process leaves the set at its last
 * thread's final switch, not at sched_process_exit, after which the exit's own work still goes on.
 * The one sched_switch program serves schedule too, and the exit hook takes a task's last resource
 * figures when resource is active (see resource_exit.bpf.h).
 */
#include "sched.bpf.h"
#include "resource_exit.bpf.h"
#include "unwind.bpf.h"
#include "kmemo.bpf.h"
#include "waker.bpf.h"
#include "migrate.bpf.h"
#include "cgroup.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_process_fork")
int BPF_PROG(keytime_fork, struct task_struct *parent, struct task_struct *child)
{
	const struct pi_policy *p = pi_active_policy();
	__u32 cpu = bpf_get_smp_processor_id();

	if (!p)
		return 0;
	if (pi_member_kind(p)) /* a cgroup or container target: the child's own membership */
		pi_member_update(p, child);
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	if (!pi_is_target(p, parent->pid, ptgid, cpu)) {
		/*
		 * A new process of someone else's on a pid whose bit is still set: a followed process that
		 * died with its bit left on (see group_gone), its pid now recycled. The child has not run
		 * yet (it is woken after this hook): it is never taken for a target.
		 */
		if (p->target_kind == PI_TARGET_TGID && ctgid != ptgid && pi_followed(ctgid))
			pi_follow_set(ctgid, 0);
		return 0;
	}
	/* a new process (not a thread) of a followed thread group is followed too */
	if (p->target_kind == PI_TARGET_TGID && ctgid != ptgid)
		pi_follow_set(ctgid, 1);
	if (!(pi_cats(p) & PI_CAT_KEYTIME))
		return 0;
	if (ctgid != ptgid)
		unwind_fork(ptgid, ctgid);

	struct pi_fork_event *e = pi_reserve(sizeof(*e), PI_EV_FORK);
	if (!e)
		return 0;
	pi_fill_hdr(&e->hdr, PI_EV_FORK, parent);
	e->child_pid = child->pid;
	e->child_tgid = ctgid;
	e->child_start_ns = child->start_time;
	pi_submit(e, sizeof(*e), PI_WAKE_NOW);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(keytime_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	const struct pi_policy *p = pi_active_policy();
	__u32 cpu = bpf_get_smp_processor_id();

	if (!p || !(pi_cats(p) & PI_CAT_KEYTIME))
		return 0;
	/* a non-leader thread that execs takes the leader's pid: a one-thread target knew it by old_pid */
	if (!pi_is_target(p, task->pid, task->tgid, cpu) && !pi_is_target(p, old_pid, task->tgid, cpu))
		return 0;
	unwind_forget(task->tgid);
	unwind_forget_thread(task->pid);
	unwind_forget_thread(old_pid);

	struct pi_exec_event *e = pi_reserve(sizeof(*e), PI_EV_EXEC);
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
	pi_submit(e, sizeof(*e), PI_WAKE_NOW);
	return 0;
}

/*
 * Each CPU's run-queue clock (clock_task) against bpf_ktime, as of the last target switch-in there:
 * the scheduler's clock as of now, for a thread whose own switch-in no program saw.
 */
struct clock_pair {
	__u64 ktime;
	__u64 clock_task;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct clock_pair);
} keytime_clock SEC(".maps");

/*
 * A running task's total on-CPU time at `now`, as task_sched_runtime() would say: se.sum_exec_runtime
 * holds only what update_curr() has folded in, up to se.exec_start; the segment running since is
 * (now - exec_start) on the run queue's clock_task. A thread that never left the CPU has 0 folded in:
 * the rest comes at its final switch, after this hook. The rq's clock is not readable as of now (it
 * was last updated at the last switch or tick), so it is carried forward with bpf_ktime from a
 * moment both were known: this task's switch-in (exec_start was the rq clock then: exec_in, at
 * on_ns), or else the last target switch-in on this CPU. The two clocks run at one rate but for
 * steal time, which clock_task leaves out (a guest's vCPU waiting for the host): an interval stolen
 * from makes this long by the steal in it.
 */
static __always_inline __u64 task_runtime(const struct pi_policy *p, struct task_struct *task, __u64 now)
{
	__u64 sum = task->se.sum_exec_runtime, start = task->se.exec_start, clock = 0;
	struct pi_task_state *s = pi_task_state(task, p->generation, 0);
	__u32 zero = 0;
	struct clock_pair *c;

	if (s && s->on_ns && s->on_ns <= now)
		clock = s->exec_in + (now - s->on_ns);
	else if ((c = bpf_map_lookup_elem(&keytime_clock, &zero)) && c->ktime && c->ktime <= now)
		clock = c->clock_task + (now - c->ktime);
	return clock > start ? sum + (clock - start) : sum;
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

	/*
	 * The thread stays a target (its process stays followed) after this: since 6.16 the hook runs
	 * before exit_mm(), and the teardown that follows (unmapping the address space, closing files)
	 * is the thread's own time, on and off the CPU. Its final switch ends it (keytime_last_switch).
	 */
	if (pi_cats(p) & PI_CAT_RESOURCE)
		res_capture_exit(p, task, group_dead);
	if (!(pi_cats(p) & PI_CAT_KEYTIME))
		return 0;

	struct pi_exit_event *e = pi_reserve(sizeof(*e), PI_EV_EXIT);
	if (!e)
		return 0;
	pi_fill_hdr(&e->hdr, PI_EV_EXIT, task);
	e->exit_code = task->exit_code;
	e->group_dead = group_dead;
	e->start_ns = task->start_time;
	e->process_start_ns = BPF_CORE_READ(task, group_leader, start_time);
	e->oncpu_ns = task_runtime(p, task, e->hdr.ts_ns); /* as of the record's own time */
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	pi_submit(e, sizeof(*e), PI_WAKE_NOW);
	return 0;
}

/* Fills the stacks of a switch-out: kernel always, user by the policy's mode. */
static __always_inline void switch_out_stacks(void *ctx, struct pi_switch_out_event *e, struct task_struct *prev,
					      __u32 mode, __u64 kkey)
{
	long n;
	const struct kmemo *km = kstack_out(ctx, prev, kkey);

	if (km) {
		e->kstack_bytes = km->bytes;
		bpf_probe_read_kernel(e->kstack, sizeof(e->kstack), km->frames);
	} else {
		n = bpf_get_stack(ctx, e->kstack, sizeof(e->kstack), 0);
		e->kstack_bytes = n > 0 ? n : 0;
	}
	e->stack_mode = mode == PI_STACK_DWARF_COPY ? PI_STACK_DWARF : mode;
	e->exe_ino = BPF_CORE_READ(prev, mm, exe_file, f_inode, i_ino);
	e->ustack_bytes = 0;
	e->ustack_stop = PI_USTACK_END;
	if (mode == PI_STACK_FP) {
		n = bpf_get_stack(ctx, e->ustack, sizeof(e->ustack), BPF_F_USER_STACK);
		e->ustack_bytes = n > 0 ? n : 0;
	} else if (mode == PI_STACK_DWARF || mode == PI_STACK_DWARF_COPY) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);
		e->ip = BPF_CORE_READ(regs, ip);
		e->sp = BPF_CORE_READ(regs, sp);
		e->bp = BPF_CORE_READ(regs, bp);
		e->bx = BPF_CORE_READ(regs, bx);
		e->r12 = BPF_CORE_READ(regs, r12);
		e->r13 = BPF_CORE_READ(regs, r13);
		e->r14 = BPF_CORE_READ(regs, r14);
		e->r15 = BPF_CORE_READ(regs, r15);
	}
}

/*
 * Copies the user stack from the page holding sp upwards. One read of all pages is all-or-nothing
 * and fails near the top of the stack, so on failure pages are read one by one until one fails.
 * Whole pages at fixed offsets keep every read provably inside the record.
 */
static __always_inline void copy_user_stack(struct pi_switch_out_dwarf_event *e)
{
	__u64 base = e->out.sp & ~(__u64)(PI_PAGE - 1);
	__u32 pages = 0;

	e->out.stack_base = base;
	if (bpf_probe_read_user(e->stack, sizeof(e->stack), (void *)base) == 0) {
		pages = PI_STACK_PAGES;
	} else {
		for (int i = 0; i < PI_STACK_PAGES; i++) {
			if (bpf_probe_read_user(e->stack + i * PI_PAGE, PI_PAGE, (void *)(base + i * PI_PAGE)))
				break;
			pages++;
		}
	}
	e->out.stack_bytes = pages * PI_PAGE;
}

/* The frames the kernel unwound from tables (PI_USTACK_MAX slots at dst), their bytes and how they end. */
static __always_inline void unwound_into(__u64 *dst, __u32 *bytes, __u32 *stop, const struct uw_state *st)
{
	__u32 n = st->n;

	if (n > PI_USTACK_MAX)
		n = PI_USTACK_MAX;
	bpf_probe_read_kernel(dst, PI_USTACK_MAX * 8, st->pcs);
	*bytes = n * 8;
	*stop = st->status == UW_MAX ? PI_USTACK_MAX_FRAMES : PI_USTACK_END;
}

/* ... into a record. */
static __always_inline void unwound_frames(struct pi_switch_out_event *e, const struct uw_state *st)
{
	unwound_into(e->ustack, &e->ustack_bytes, &e->ustack_stop, st);
}

/*
 * A uretprobe (lock's own with -l, or anyone's) replaces the return address of each probed call in
 * progress with its trampoline's, so an unwinder stops there ("0x7fffffffe000"). The kernel keeps
 * the real one per call (utask->return_instances, innermost first; ri->stack is the slot it was in):
 * put them back in the copy. prev is off the CPU, so its list cannot change under us.
 */
#define PI_URET_MAX 8
static __always_inline void restore_uretprobe_returns(struct pi_switch_out_dwarf_event *e, struct task_struct *t)
{
	if (!bpf_core_field_exists(t->utask))
		return;
	struct return_instance *ri = BPF_CORE_READ(t, utask, return_instances); /* NULL: no utask, or none */

	for (int i = 0; i < PI_URET_MAX && ri; i++) {
		__u64 at = BPF_CORE_READ(ri, stack) - e->out.stack_base;
		if (at + 8 <= e->out.stack_bytes && at <= sizeof(e->stack) - 8)
			*(__u64 *)(e->stack + at) = BPF_CORE_READ(ri, orig_ret_vaddr);
		ri = BPF_CORE_READ(ri, next);
	}
}

/* t got the CPU at `at`, ending the off-CPU interval it began at off_start (0: not in this activation). */
static __always_inline void emit_switch_in(const struct pi_policy *p, struct task_struct *t, __u64 at,
					   __u64 off_start, __u32 state, __u32 preempt, __u32 inferred,
					   struct pi_task_state *s)
{
	struct pi_switch_in_event *e = pi_reserve(sizeof(*e), PI_EV_SWITCH_IN);
	if (!e)
		return;
	pi_fill_hdr(&e->hdr, PI_EV_SWITCH_IN, t);
	e->hdr.ts_ns = at;
	e->offcpu_start_ns = off_start;
	e->state = state;
	e->preempt = preempt;
	e->first_run = !off_start && t->start_time >= p->start_ns;
	e->inferred = inferred;
	/* the switch-out that began it sent nothing: its stacks by sig, and the on-CPU interval it ended */
	e->out_sent = !off_start || s->out_sent;
	e->out_cpu = s->off_cpu;
	e->sig = s->off_sig;
	e->oncpu_start_ns = e->out_sent ? 0 : s->on_prev;
	e->oncpu_start_inferred = s->on_prev_inferred;
	e->pad = 0;
	waker_fill(e, s, off_start, state, preempt);
	pi_submit(e, sizeof(*e), PI_WAKE_LATER);
}

/*
 * When prev, leaving the CPU, got it, if keytime never saw it arrive: it was already running at
 * activation, or its switch-in reached no program. The latter happens: on some machines (this
 * project's VMs among them) a switch away from certain tasks runs no BPF program at all (not
 * procimage's, not bpftrace's), so the task that got the CPU then is next seen leaving it. The
 * scheduler's own sched_info still stamped the arrival, on the run queue's clock, which __schedule
 * has just updated (rq->clock, reached through the task's cfs_rq: the per-CPU `runqueues` is not in
 * kallsyms without CONFIG_KALLSYMS_ALL). An arrival after activation is reported as the switch-in
 * it was, marked inferred (and schedule counts the delay it ended). Returns the arrival on
 * bpf_ktime's scale, or 0 if the stamp is not usable (then the start stays unknown). Not inlined:
 * it runs rarely, and keytime_out is near the 512-byte stack limit.
 */
static __noinline __u64 keytime_unseen_start(const struct pi_policy *p, struct task_struct *prev,
					     struct pi_task_state *s, __u64 now)
{
	if (!bpf_core_field_exists(prev->se.cfs_rq) || !bpf_core_field_exists(prev->sched_info.last_arrival))
		return 0;
	__u64 clock = BPF_CORE_READ(prev, se.cfs_rq, rq, clock);
	__u64 arrival = BPF_CORE_READ(prev, sched_info.last_arrival);

	/* off_ns: it was seen leaving at that time (0: not in this activation), so it came back after */
	if (!arrival || arrival > clock || clock - arrival > now - s->off_ns)
		return 0;
	__u64 at = now - (clock - arrival);
	if (at < p->start_ns)
		return at; /* already running at activation: no switch-in of this activation was missed */

	if (pi_cats(p) & PI_CAT_SCHEDULE)
		pi_sched_ran(p, prev, s, at, bpf_get_smp_processor_id());
	emit_switch_in(p, prev, at, s->off_ns, s->off_state, s->off_preempt, 1, s);
	return at;
}

/*
 * A switch-out's stacks before they are known to be worth a record: per CPU (sched_switch does not
 * nest on a CPU), with their sig.
 */
struct out_stacks {
	__u64 kstack[PI_KSTACK_MAX];
	__u64 ustack[PI_USTACK_MAX];
	__u32 kbytes, ubytes, ustop, pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct out_stacks);
} out_scratch SEC(".maps");

/* The sigs each process has sent the stacks of (tgid, sig). LRU: a forgotten one is sent again. */
struct seen_key {
	__u32 tgid;
	__u32 pad;
	__u64 sig;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct seen_key);
	__type(value, __u8);
} stacks_seen SEC(".maps");

/* Short intervals whose stacks were seen, per thread and stack: read (and emptied of ended threads) by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pi_offcpu_agg_key);
	__type(value, struct pi_offcpu_agg);
} offcpu_agg SEC(".maps");

/*
 * The stacks' identity: the kernel stack's frames (khash: frames_hash, from its memo: bpf/kmemo.bpf.h),
 * the user stack's (uhash, likewise, from its walk's memo: bpf/unwind.bpf.h), how the user one ended,
 * and the address space. Each stack hashed apart: a frame cannot move from one to the other.
 */
static __always_inline __u64 stacks_sig(__u64 khash, __u64 uhash, __u32 ustop, __u64 mm)
{
	__u64 h = pi_mix(pi_mix(pi_mix(PI_MIX_SEED, mm), khash), uhash);

	h = pi_mix(h, ustop + 1);
	return h ? h : 1;
}

/* Whether tgid has sent the stacks of sig already; if not, it now has (the caller sends them). */
static __always_inline int sig_seen(__u32 tgid, __u64 sig)
{
	struct seen_key k = { .tgid = tgid, .sig = sig };
	__u8 one = 1;

	if (bpf_map_lookup_elem(&stacks_seen, &k))
		return 1;
	bpf_map_update_elem(&stacks_seen, &k, &one, BPF_ANY);
	return 0;
}

/* A target leaves the CPU: its on-CPU interval ends, an off-CPU one begins; say why, with stacks. */
static __always_inline void keytime_out(void *ctx, const struct pi_policy *p, struct task_struct *prev,
					__u32 state, __u32 preempt, __u64 now)
{
	struct pi_task_state *s = pi_task_state(prev, p->generation, 1);
	if (!s) {
		pi_count_lost(PI_LOST_TASK_STATE);
		return;
	}
	__u64 on_start = s->on_ns;
	__u64 inferred = !on_start; /* never seen arriving in this activation */
	if (inferred)
		on_start = keytime_unseen_start(p, prev, s, now);
	s->on_ns = 0;
	s->off_ns = now;
	s->off_state = state;
	s->off_preempt = preempt;
	s->off_cpu = bpf_get_smp_processor_id();
	s->off_sig = 0;
	s->out_sent = 1;
	s->on_prev = on_start;
	s->on_prev_inferred = inferred && on_start;

	int dead = (state & PI_TASK_DEAD) != 0; /* its last switch: no off-CPU interval follows */
	/* picks the kernel stack's memo: the state and the system call (orig_ax) it left the CPU in */
	__u64 kkey = pi_mix(state | (__u64)preempt << 32, BPF_CORE_READ((struct pt_regs *)bpf_task_pt_regs(prev), orig_ax));
	__u32 mode = dead || (prev->flags & PI_PF_KTHREAD) ? PI_STACK_NONE : pi_stack_mode(p);
	int dwarf = mode == PI_STACK_DWARF || mode == PI_STACK_DWARF_COPY;
	/* the tables first: a stack they unwind needs no copy (with pi_unwind_check dwarf-copy sends both) */
	struct uw_state *st = mode == PI_STACK_DWARF || (pi_unwind_check && mode == PI_STACK_DWARF_COPY) ? unwind_user(prev) : NULL;
	int copy = dwarf && (!st || mode == PI_STACK_DWARF_COPY);
	int skipped = 0; /* a stack dwarf mode would copy, over the budget: none */
	if (copy && mode == PI_STACK_DWARF && !unwind_may_copy(now)) {
		copy = 0;
		skipped = 1;
		pi_count_lost(PI_LOST_USTACK_BUDGET);
	}
	struct pi_switch_out_event *e;
	if (copy) {
		struct pi_switch_out_dwarf_event *d = pi_reserve(sizeof(*d), PI_EV_SWITCH_OUT_DWARF);
		if (!d)
			return;
		e = &d->out;
		pi_fill_hdr(&e->hdr, PI_EV_SWITCH_OUT_DWARF, prev);
		switch_out_stacks(ctx, e, prev, mode, kkey);
		copy_user_stack(d);
		restore_uretprobe_returns(d, prev);
		if (pi_unwind_check && st)
			unwound_frames(e, st);
		e->sig = 0;
	} else if (dead || !p->offcpu_min_ns) {
		/* every interval one by one, or the last switch: a record as before */
		e = pi_reserve(sizeof(*e), PI_EV_SWITCH_OUT);
		if (!e)
			return;
		pi_fill_hdr(&e->hdr, PI_EV_SWITCH_OUT, prev);
		e->stack_bytes = 0;
		e->stack_base = 0;
		e->exe_ino = 0;
		e->sig = 0;
		if (dead) {
			e->stack_mode = PI_STACK_NONE;
			e->kstack_bytes = e->ustack_bytes = 0;
			e->ustack_stop = PI_USTACK_END;
		} else {
			switch_out_stacks(ctx, e, prev, skipped ? PI_STACK_NONE : mode, kkey);
			if (st)
				unwound_frames(e, st);
			if (skipped)
				e->ustack_stop = PI_USTACK_NOT_TAKEN;
		}
	} else {
		/*
		 * The stacks are complete here: a record only if the process has not sent them before
		 * (keytime_in decides about the interval when it ends).
		 */
		__u32 zero = 0;
		struct out_stacks *o = bpf_map_lookup_elem(&out_scratch, &zero);
		if (!o)
			return;
		const struct kmemo *km = kstack_out(ctx, prev, kkey);
		long n;
		if (km) {
			o->kbytes = km->bytes;
		} else {
			n = bpf_get_stack(ctx, o->kstack, sizeof(o->kstack), 0);
			o->kbytes = n > 0 ? n : 0;
		}
		__u64 khash = km ? km->hash : frames_hash(o->kstack, o->kbytes, PI_MIX_SEED);
		o->ubytes = 0;
		o->ustop = skipped ? PI_USTACK_NOT_TAKEN : PI_USTACK_END;
		__u64 uhash = PI_MIX_SEED; /* no user stack */
		if (skipped) {
			/* the user stack not taken (over the copy budget): the kernel stack alone identifies it */
		} else if (mode == PI_STACK_FP) {
			n = bpf_get_stack(ctx, o->ustack, sizeof(o->ustack), BPF_F_USER_STACK);
			o->ubytes = n > 0 ? n : 0;
			uhash = frames_hash(o->ustack, o->ubytes, PI_MIX_SEED);
		} else if (st) {
			/* the frames stay in st until a record needs them: their hash came with the walk */
			uhash = st->fhash;
			o->ustop = st->status == UW_MAX ? PI_USTACK_MAX_FRAMES : PI_USTACK_END;
		}
		__u64 mm = (__u64)BPF_CORE_READ(prev, mm); /* a scalar, not a pointer */
		__u64 sig = stacks_sig(khash, uhash, o->ustop, mm);
		s->off_sig = sig;
		if (sig_seen(prev->tgid, sig)) {
			s->out_sent = 0;
			return;
		}
		e = pi_reserve(sizeof(*e), PI_EV_SWITCH_OUT);
		if (!e) {
			struct seen_key k = { .tgid = prev->tgid, .sig = sig };
			bpf_map_delete_elem(&stacks_seen, &k); /* not sent after all */
			return;
		}
		pi_fill_hdr(&e->hdr, PI_EV_SWITCH_OUT, prev);
		e->stack_bytes = 0;
		e->stack_base = 0;
		e->stack_mode = skipped ? PI_STACK_NONE : mode;
		e->exe_ino = BPF_CORE_READ(prev, mm, exe_file, f_inode, i_ino);
		e->kstack_bytes = o->kbytes;
		bpf_probe_read_kernel(e->kstack, sizeof(e->kstack), km ? km->frames : o->kstack);
		if (st && !skipped && mode != PI_STACK_FP) {
			unwound_into(e->ustack, &e->ustack_bytes, &e->ustack_stop, st);
		} else {
			e->ustack_bytes = o->ubytes;
			e->ustack_stop = o->ustop;
			bpf_probe_read_kernel(e->ustack, sizeof(e->ustack), o->ustack);
		}
		e->sig = sig;
	}
	e->hdr.ts_ns = now;
	e->oncpu_start_ns = on_start;
	e->oncpu_start_inferred = inferred && on_start;
	e->state = state;
	e->preempt = preempt;
	pi_submit(e, copy ? sizeof(struct pi_switch_out_dwarf_event) : sizeof(*e), PI_WAKE_LATER);
}

/*
 * keytime_out, verified once for itself: a global function, which the verifier checks apart from
 * its callers, with arguments of their declared types only. Inlined, each of its many paths (mode,
 * copy, budget, aggregate) was walked again through the rest of keytime_switch (schedule's delay,
 * keytime_in): 104,000 instructions verified with every category and --stack dwarf, ~36,000 now,
 * the critical path of every trace's start (docs/performance.md, Start-up). What it does is the same.
 */
__noinline int keytime_out_global(void *ctx __arg_ctx, const struct pi_policy *p, struct task_struct *prev __arg_trusted,
				  __u64 state_preempt, __u64 now)
{
	if (p) /* the caller's, never NULL: a global function's pointer may be, to the verifier */
		keytime_out(ctx, p, prev, (__u32)state_preempt, state_preempt >> 32, now);
	return 0;
}

/*
 * A short interval whose switch-out sent no record: added to its thread's aggregate for its stacks.
 * Returns 0 if the aggregate is full (the caller sends the interval instead).
 */
static __always_inline int offcpu_aggregate(struct task_struct *t, const struct pi_task_state *s, __u64 now)
{
	int woken = waker_woke(s, s->off_ns, s->off_state, s->off_preempt); /* as the switch-in's record would say */
	struct pi_offcpu_agg_key k = { .pid = t->pid, .tgid = t->tgid, .sig = s->off_sig,
				       .state = s->off_state, .preempt = s->off_preempt,
				       .waker_pid = woken ? s->waker_pid : 0, .waker_flags = woken ? s->waker_flags | PI_AGG_WOKEN : 0 };
	struct pi_offcpu_agg *a = bpf_map_lookup_elem(&offcpu_agg, &k);

	if (!a) {
		struct pi_offcpu_agg zero = {};
		__builtin_memcpy(zero.comm, t->comm, sizeof(zero.comm));
		zero.waker_tgid = woken ? s->waker_tgid : 0;
		long err = bpf_map_update_elem(&offcpu_agg, &k, &zero, BPF_NOEXIST);
		if (err && err != -17 /* EEXIST */)
			return 0; /* full (65536 thread-stack-state triples): sent one by one instead, nothing lost */
		a = bpf_map_lookup_elem(&offcpu_agg, &k);
		if (!a)
			return 0;
	}
	__u64 d = now - s->off_ns;
	/* one writer: the thread's own switch-ins, one at a time; user space only reads (and deletes ended threads) */
	a->count++;
	a->total_ns += d;
	if (d > a->max_ns)
		a->max_ns = d;
	a->cpu = bpf_get_smp_processor_id();
	if (s->on_prev) {
		a->oncpu_count++;
		a->oncpu_ns += s->off_ns - s->on_prev;
	}
	return 1;
}

/* A target gets the CPU: its off-CPU interval ends, an on-CPU one begins. */
static __always_inline void keytime_in(const struct pi_policy *p, struct task_struct *next, __u64 now)
{
	struct pi_task_state *s = pi_task_state(next, p->generation, 1);
	if (!s) {
		pi_count_lost(PI_LOST_TASK_STATE);
		return;
	}
	__u64 off_start = s->off_ns;
	__u32 state = s->off_state, preempt = s->off_preempt;
	/*
	 * short, after a short on-CPU interval (-k 1: a long one is worth its record), and its stacks
	 * were sent before: counted, not sent
	 */
	int long_on = p->keytime_mode == 1 && s->on_prev && off_start - s->on_prev >= p->offcpu_min_ns;
	int counted = off_start && !s->out_sent && !long_on && now - off_start < p->offcpu_min_ns && offcpu_aggregate(next, s, now);
	s->off_ns = 0;
	s->on_ns = now;
	s->exec_in = next->se.exec_start; /* set by pick_next_task just before: the rq's clock_task now */
	__u32 zero = 0;
	struct clock_pair *c = bpf_map_lookup_elem(&keytime_clock, &zero);
	if (c) {
		c->ktime = now;
		c->clock_task = s->exec_in;
	}
	if (!counted)
		emit_switch_in(p, next, now, off_start, state, preempt, 0, s);
}

/* Every task keytime keeps state for: where it stands (pi_task_now), read once at deactivation. */
SEC("iter/task")
int keytime_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;

	if (!t)
		return 0;
	struct pi_task_state *s = bpf_task_storage_get(&pi_task, t, 0, 0);
	if (!s || (!s->on_ns && !s->off_ns))
		return 0;
	struct pi_task_now n = {
		.pid = t->pid, .tgid = t->tgid, .gen = s->gen, .off_state = s->off_state, .off_preempt = s->off_preempt,
		.off_cpu = s->off_cpu, .out_sent = s->out_sent, .on_ns = s->on_ns, .off_ns = s->off_ns, .off_sig = s->off_sig,
	};
	if (!n.off_ns) {
		__u32 cpu = BPF_CORE_READ(t, thread_info.cpu); /* running: where */
		n.off_cpu = cpu;
	}
	BPF_CORE_READ_STR_INTO(&n.comm, t, comm);
	bpf_seq_write(ctx->meta->seq, &n, sizeof(n));
	return 0;
}

/*
 * A dying thread's last switch, when its follow bit is already gone (a recycled pid's fork cleared
 * it, see group_gone): it is still ours if keytime saw it get the CPU in this activation (only
 * keytime_in sets on_ns, and only for targets), so its last on-CPU interval is closed.
 */
static __always_inline int tracked_and_dying(const struct pi_policy *p, struct task_struct *prev, __u32 state)
{
	if (!(state & PI_TASK_DEAD))
		return 0;
	struct pi_task_state *s = pi_task_state(prev, p->generation, 0);
	return s && s->on_ns;
}

/*
 * Whether dead's process can have no thread left to run (dead is making its final switch), so its
 * follow bit may go. The bit outlives sched_process_exit because a thread's exit goes on after it
 * (exit_mm's teardown above all), and other threads of the group may still be on their way out:
 *  - signal->nr_threads counts the tasks not yet released (__exit_signal). A thread other than the
 *    leader is released in its own exit_notify(), after its exit hook; the leader stays, a zombie,
 *    until the group is empty and it is reaped. So 1 means only the leader is left: dead itself, or
 *    one past exit_notify() (exit_state set) and so past its own exit hook — no thread can still
 *    arrive at sched_process_exit and find itself unfollowed, as one between the signal->live
 *    decrement and the hook could if live == 0 were the test.
 *  - 0 means the leader was reaped too: its pid, the tgid, may already be a new process's, whose
 *    fork set or cleared the bit. It is left alone; a stale bit names no task that can run (a
 *    recycled pid goes through keytime_fork before it runs, which clears it).
 * A released thread may still be between exit_notify() and its final switch (a few µs, nothing of
 * the teardown); its last interval is closed anyway (tracked_and_dying).
 */
static __always_inline int group_gone(struct task_struct *dead)
{
	struct signal_struct *sig = dead->signal;

	return BPF_CORE_READ(sig, nr_threads) == 1 && BPF_CORE_READ(dead, group_leader, exit_state) != 0;
}

/*
 * prev leaves the CPU for the last time (after its intervals were recorded): schedule may report its
 * thread for the last time, and its process is unfollowed if it was the last of it. Runs only at
 * TASK_DEAD switches: exits are rare.
 */
static __noinline void keytime_last_switch(const struct pi_policy *p, struct task_struct *prev, __u32 cpu)
{
	/* not only for targets: one whose bit a recycled pid cleared has an entry too */
	if (pi_cats(p) & PI_CAT_SCHEDULE)
		pi_sched_exited(prev->pid, cpu);
	unwind_forget_thread(prev->pid);
	if (!group_gone(prev))
		return;
	if (p->target_kind == PI_TARGET_TGID && pi_followed(prev->tgid))
		pi_follow_set(prev->tgid, 0);
	unwind_forget(prev->tgid);
}

/*
 * The one sched_switch program: keytime's intervals and schedule's delays. prev_state is the
 * tracepoint's own argument (kernel 5.18+): re-reading prev->__state here can already see a wakeup's
 * TASK_RUNNING.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(keytime_switch, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p)
		return 0;
	__u32 cpu = bpf_get_smp_processor_id();
	int sched = pi_cats(p) & PI_CAT_SCHEDULE, keytime = pi_cats(p) & PI_CAT_KEYTIME;
	/* the targets first: for everyone else, with keytime alone, that is all there is to do */
	int out = keytime && (pi_is_target(p, prev->pid, prev->tgid, cpu) || tracked_and_dying(p, prev, prev_state));
	int in = keytime && pi_is_target(p, next->pid, next->tgid, cpu);
	if (!sched && !out && !in)
		return 0;
	__u64 now = bpf_ktime_get_ns();

	/* prev's interval first: a switch-in of prev that went unreported is settled before prev queues again */
	if (out)
		keytime_out_global(ctx, p, prev, prev_state | (__u64)preempt << 32, now); /* 5 arguments at most */
	if (sched)
		pi_sched_switch(p, prev, next, preempt || prev_state == PI_TASK_RUNNING, now, cpu);
	if (in)
		keytime_in(p, next, now);
	if (prev_state & PI_TASK_DEAD)
		keytime_last_switch(p, prev, cpu);
	return 0;
}

/* cgroup targets (bpf/cgroup.bpf.h): a task moved between cgroups, after the move. */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(keytime_cgroup_attach, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	pi_cgroup_moved(task, threadgroup);
	return 0;
}

/* -o: a process that execs may have left the root cgroup namespace since its fork (runc's init does). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(keytime_member_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	const struct pi_policy *p = pi_active_policy();

	if (p && p->target_kind == PI_TARGET_CONTAINERS)
		pi_member_update(p, task);
	return 0;
}
