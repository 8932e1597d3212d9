// SPDX-License-Identifier: GPL-2.0
/*
 * lock: user-space locks taken through glibc (pthread mutex, rwlock, spinlock; trylock too), seen by
 * uprobes on the target's own libc, and kernel lock contention (lock:contention_begin/end). Futex
 * waits are the third source; they ride on syscall.bpf.c's programs (futex.bpf.h).
 *
 * The uprobes are attached with the target's pid (src/collect/lock.ts), so other processes never hit
 * them; two programs serve every function — one for the probes in them, one for their returns —
 * told apart by the bpf_cookie each attachment carries (enum pi_lock_op). Where the kernel has
 * uprobe_multi links, each program is one link for all its functions. Per lock address and thread the kernel keeps acquisitions, contended ones, wait
 * and hold times and the user stack of the first contended acquisition; user space reads them every
 * --interval.
 */
#include "common.bpf.h"
#include "lockstat.bpf.h"
#include "cgroup.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* A pthread lock call in flight, by thread (one at a time: lock calls do not nest). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct pi_lock_call);
} lk_calls SEC(".maps");

/* Locks held, by (lock, thread). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct pi_thread_addr);
	__type(value, struct pi_lock_hold);
} lk_holds SEC(".maps");

/*
 * Statistics by (lock, thread, kind): pthread locks and kernel contention. Allocated as used (an
 * entry is ~640 bytes with its stack and histogram: preallocated, 6.5 MB from load on).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10240);
	__type(key, struct pi_lock_key);
	__type(value, struct pi_lock_stat);
} lk_stats SEC(".maps");

/* Contended mutex waits by (lock, waiter, the thread that held it when the wait began). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10240);
	__type(key, struct pi_lock_owner_key);
	__type(value, struct pi_lock_owner);
} lk_owners SEC(".maps");

/*
 * The user stacks that acquired pthread locks, with --stack fp (frame pointers, from the caller's
 * return address on: the holder's stack a waiter's owner names). Each distinct stack once, by id.
 */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PI_USTACK_MAX * sizeof(__u64));
} lk_hold_stacks SEC(".maps");

/* Who holds each pthread rwlock for writing (a waiter's owner: readers have none to name). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pi_lock_key);
	__type(value, struct pi_lock_writer);
} lk_rw_writers SEC(".maps");

/* Kernel contentions in progress, by (lock, thread): they nest when an interrupt contends too. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pi_thread_addr);
	__type(value, struct pi_lock_hold);
} lk_kwaits SEC(".maps");

/* The policy if it has the lock bit and the current thread is a target, else NULL. */
static __always_inline const struct pi_policy *lock_target(__u32 *pid, __u32 *tgid)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p || !(p->categories & PI_CAT_LOCK))
		return 0;
	__u64 pt = bpf_get_current_pid_tgid();
	*pid = pt;
	*tgid = pt >> 32;
	return pi_is_target(p, *pid, *tgid, bpf_get_smp_processor_id()) ? p : 0;
}

/* The kind of hold a lock or trylock function makes. */
static __always_inline __u32 kind_of(__u32 op)
{
	switch (op) {
	case PI_LOCK_OP_RW_RDLOCK:
	case PI_LOCK_OP_RW_TRYRDLOCK:
		return PI_LK_RWLOCK_READ;
	case PI_LOCK_OP_RW_WRLOCK:
	case PI_LOCK_OP_RW_TRYWRLOCK:
		return PI_LK_RWLOCK_WRITE;
	case PI_LOCK_OP_SPIN_LOCK:
	case PI_LOCK_OP_SPIN_TRYLOCK:
	case PI_LOCK_OP_SPIN_ATTEMPT:
		return PI_LK_SPIN;
	}
	return PI_LK_MUTEX;
}

/* glibc's pthread_rwlock_t: __readers is its first word (nptl/pthread_rwlock_common.c) */
#define RWLOCK_WRLOCKED 2
#define RWLOCK_READER_SHIFT 3

/*
 * glibc's x86_64 pthread_spinlock_t counts down (sysdeps/x86_64/nptl; Debian's 2.36 disassembled):
 * pthread_spin_init and pthread_spin_unlock (one function) store 1; pthread_spin_lock's `lock decl`
 * takes it when the result is 0, and each waiter's decrement takes it further below; trylock's
 * `lock cmpxchg` takes it only from 1. So 1 is free and anything else held: 0 is held, not free.
 */
#define SPIN_FREE 1

/*
 * Whether the lock is held by someone at the moment a thread asks for it: the classic definition of
 * a contended acquisition (lockstat's). Read from the lock word itself: a mutex's __lock is 0 when
 * free, a spinlock SPIN_FREE; a rwlock is busy for a reader when a writer holds it, for a writer when
 * anyone does. (pthread_spin_lock itself is judged by its locked decrement: PI_LOCK_OP_SPIN_ATTEMPT.)
 */
static __always_inline __u32 lock_busy(__u64 addr, __u32 op)
{
	__u32 word = 0;

	if (bpf_probe_read_user(&word, sizeof(word), (void *)addr))
		return 0;
	switch (kind_of(op)) {
	case PI_LK_RWLOCK_READ:
		return !!(word & RWLOCK_WRLOCKED);
	case PI_LK_RWLOCK_WRITE:
		return (word >> RWLOCK_READER_SHIFT) != 0 || (word & RWLOCK_WRLOCKED);
	case PI_LK_SPIN:
		return word != SPIN_FREE;
	}
	return word != 0;
}

#define X86_EFLAGS_ZF 0x40

/*
 * The user stack at a lock function's first instruction: [ip, return address, frame-pointer chain].
 * The return address is read from the top of the stack (bpf_get_stack's frame-pointer walk, starting
 * from the caller's frame, would skip the caller itself); the chain beyond is only as good as the
 * callers' frame pointers (user space cuts it at the first frame outside any file). A lock_stack
 * record tells user space to read the process's mappings while it still has them.
 */
static __always_inline void capture_ustack(struct pt_regs *ctx, struct pi_lock_stat *s)
{
	__u64 ret = 0;

	bpf_probe_read_user(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx));
	long n = bpf_get_stack(ctx, &s->stack[1], sizeof(s->stack) - sizeof(__u64), BPF_F_USER_STACK);
	if (n <= 0)
		return;
	s->stack[0] = s->stack[1]; /* ip */
	s->stack[1] = ret;
	s->stack_len = n / sizeof(__u64) + 1;

	struct pi_lock_stack_event *e = pi_reserve(sizeof(*e), PI_EV_LOCK_STACK);
	if (!e)
		return;
	pi_fill_hdr(&e->hdr, PI_EV_LOCK_STACK, bpf_get_current_task_btf());
	/*
	 * the reader at once (a record per lock and thread, rare): the mappings are read from /proc when
	 * it is decoded, and a short-lived process may be gone by the reader's next batch
	 */
	pi_submit(e, sizeof(*e), PI_WAKE_NOW);
}

/*
 * A lock or trylock call begins: note it, whether the lock is busy, and, the first time this thread
 * finds this lock busy, the user stack that asked for it.
 */
static __always_inline void entered(struct pt_regs *ctx, __u32 op, __u64 addr, __u32 busy, __u32 pid, __u32 tgid)
{
	if (busy) {
		struct pi_lock_key k = { .addr = addr, .tgid = tgid, .pid = pid, .kind = kind_of(op) };
		struct pi_lock_stat *s = pi_lock_stat_of(&lk_stats, &k);
		if (s && !s->stack_len)
			capture_ustack(ctx, s);
	}
	struct pi_lock_call c = { .addr = addr, .op = op, .contended = busy };
	/*
	 * glibc's mutex keeps its owner's tid in __data.__owner, after __lock and __count (the same in
	 * every mutex type; a robust or PI mutex's __lock holds the tid too): who the wait is for. A
	 * rwlock's writer is the one procimage saw take it. Their stack: the hold's, if procimage saw it.
	 */
	if (busy && kind_of(op) == PI_LK_MUTEX) {
		bpf_probe_read_user(&c.owner, sizeof(c.owner), (void *)(addr + 8));
		struct pi_thread_addr hk = { .addr = addr, .pid = c.owner };
		const struct pi_lock_hold *h = c.owner ? bpf_map_lookup_elem(&lk_holds, &hk) : NULL;
		if (h) {
			c.owner_stack = h->stack;
			c.owner_site = h->site;
		}
	} else if (busy && (kind_of(op) == PI_LK_RWLOCK_READ || kind_of(op) == PI_LK_RWLOCK_WRITE)) {
		struct pi_lock_key wk = { .addr = addr, .tgid = tgid };
		const struct pi_lock_writer *w = bpf_map_lookup_elem(&lk_rw_writers, &wk);
		if (w) {
			c.owner = w->pid;
			c.owner_stack = w->stack;
			c.owner_site = w->site;
		}
	}
	c.start_ns = bpf_ktime_get_ns(); /* last: the work above is not the lock's wait */
	if (bpf_map_update_elem(&lk_calls, &pid, &c, BPF_ANY))
		pi_count_lost(PI_LOST_LOCK_CALLS_FULL);
}

/* A lock or trylock call returns: an acquisition (0) or a failure (EBUSY, an error). */
static __always_inline void returned(struct pt_regs *ctx, long ret, __u32 pid, __u32 tgid, __u64 now)
{
	struct pi_lock_call *cp = bpf_map_lookup_elem(&lk_calls, &pid);

	if (!cp)
		return;
	struct pi_lock_call c = *cp;
	bpf_map_delete_elem(&lk_calls, &pid);

	__u32 kind = kind_of(c.op);
	struct pi_lock_key k = { .addr = c.addr, .tgid = tgid, .pid = pid, .kind = kind };
	struct pi_lock_stat *s = pi_lock_stat_of(&lk_stats, &k);
	if (!s)
		return;
	if (ret != 0) {
		s->failed++;
		return;
	}
	s->acquisitions++;
	if (c.contended)
		s->contended++;
	pi_lock_wait(s, now - c.start_ns);
	if (c.contended && c.owner && c.owner != pid) {
		struct pi_lock_owner_key ok = { .addr = c.addr, .tgid = tgid, .pid = pid, .owner = c.owner, .kind = kind };
		pi_lock_owner_add(&lk_owners, &ok, now - c.start_ns, c.owner_stack, c.owner_site);
	}

	struct pi_thread_addr hk = { .addr = c.addr, .pid = pid };
	struct pi_lock_hold *h = bpf_map_lookup_elem(&lk_holds, &hk);
	if (h) {
		h->depth++; /* a recursive mutex, or a read lock taken again */
		return;
	}
	/*
	 * where it was taken, for a waiter to name: at the return the ip is the caller's call site (free).
	 * The stack beyond it only with --stack fp: a frame-pointer walk and a stack map insert at every
	 * acquisition cost ~1.5 µs a lock/unlock pair (~6%, measured), and code without frame pointers
	 * (glibc, -O2) gives nothing past the call site anyway. (A spinlock's acquisition is seen inside
	 * pthread_spin_lock, not at its return: no site; spinlocks name no owner.)
	 */
	const struct pi_policy *p = pi_active_policy();
	long id = p && pi_stack_mode(p) == PI_STACK_FP ? bpf_get_stackid(ctx, &lk_hold_stacks, BPF_F_USER_STACK) : -1;
	struct pi_lock_hold nh = { .start_ns = now, .kind = kind, .depth = 1, .stack = id >= 0 ? id + 1 : 0,
				   .site = kind == PI_LK_SPIN ? 0 : PT_REGS_IP(ctx) };
	if (bpf_map_update_elem(&lk_holds, &hk, &nh, BPF_NOEXIST))
		pi_count_lost(PI_LOST_LOCK_HOLDS_FULL);
	if (kind == PI_LK_RWLOCK_WRITE) {
		struct pi_lock_key wk = { .addr = c.addr, .tgid = tgid };
		struct pi_lock_writer w = { .pid = pid, .stack = nh.stack, .site = nh.site };
		bpf_map_update_elem(&lk_rw_writers, &wk, &w, BPF_ANY);
	}
}

/*
 * An unlock: the end of a hold this thread began. An unlock without one (the lock was taken before
 * activation or by another thread, or glibc's pthread_spin_init, which shares pthread_spin_unlock's
 * code and address) is not a hold and is ignored.
 */
static __always_inline void unlocked(__u64 addr, __u32 pid, __u32 tgid, __u64 now)
{
	struct pi_thread_addr hk = { .addr = addr, .pid = pid };
	struct pi_lock_hold *h = bpf_map_lookup_elem(&lk_holds, &hk);

	if (!h)
		return;
	if (--h->depth > 0)
		return;
	__u64 held = now - h->start_ns;
	struct pi_lock_key k = { .addr = addr, .tgid = tgid, .pid = pid, .kind = h->kind };
	bpf_map_delete_elem(&lk_holds, &hk);
	if (k.kind == PI_LK_RWLOCK_WRITE) {
		struct pi_lock_key wk = { .addr = addr, .tgid = tgid };
		bpf_map_delete_elem(&lk_rw_writers, &wk);
	}

	struct pi_lock_stat *s = pi_lock_stat_of(&lk_stats, &k);
	if (!s)
		return;
	s->hold_count++;
	pi_minmax(&s->hold_total_ns, &s->hold_min_ns, &s->hold_max_ns, held);
}

/* Every uprobe that is not a return probe; the cookie says which function, and where in it. */
SEC("uprobe")
int BPF_KPROBE(lock_uprobe, void *lock)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 pid, tgid;

	if (!lock_target(&pid, &tgid))
		return 0;
	__u32 op = bpf_get_attach_cookie(ctx);
	__u64 addr = (__u64)lock;
	switch (op) {
	case PI_LOCK_OP_MUTEX_UNLOCK:
	case PI_LOCK_OP_RW_UNLOCK:
	case PI_LOCK_OP_SPIN_UNLOCK:
		unlocked(addr, pid, tgid, now);
		break;
	case PI_LOCK_OP_SPIN_ATTEMPT:
		/* after pthread_spin_lock's locked decrement: its first attempt begins the call, a retry does not */
		if (!bpf_map_lookup_elem(&lk_calls, &pid))
			entered(ctx, PI_LOCK_OP_SPIN_LOCK, addr, !(ctx->flags & X86_EFLAGS_ZF), pid, tgid);
		break;
	case PI_LOCK_OP_SPIN_ACQUIRED:
		returned(ctx, 0, pid, tgid, now);
		break;
	default:
		entered(ctx, op, addr, lock_busy(addr, op), pid, tgid);
	}
	return 0;
}

/* The return of every lock and trylock function. */
SEC("uretprobe")
int BPF_KRETPROBE(lock_uretprobe, int ret)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 pid, tgid;

	if (lock_target(&pid, &tgid))
		returned(ctx, ret, pid, tgid, now);
	return 0;
}

SEC("tp_btf/contention_begin")
int BPF_PROG(lock_contention_begin, void *lock, unsigned int flags)
{
	__u32 pid, tgid;

	if (!lock_target(&pid, &tgid))
		return 0;
	struct pi_thread_addr k = { .addr = (__u64)lock, .pid = pid };
	struct pi_lock_hold w = { .start_ns = bpf_ktime_get_ns(), .kind = flags };
	if (bpf_map_update_elem(&lk_kwaits, &k, &w, BPF_ANY))
		pi_count_lost(PI_LOST_LOCK_CALLS_FULL);
	return 0;
}

/*
 * The end of a contention: its wait is counted against (lock, thread, flags). The waiter is still in
 * the lock's slow path here, so its kernel stack is the one that waited: kept for the longest wait.
 */
SEC("tp_btf/contention_end")
int BPF_PROG(lock_contention_end, void *lock, int ret)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 pid, tgid;

	if (!lock_target(&pid, &tgid))
		return 0;
	struct pi_thread_addr wk = { .addr = (__u64)lock, .pid = pid };
	struct pi_lock_hold *w = bpf_map_lookup_elem(&lk_kwaits, &wk);
	if (!w)
		return 0;
	__u64 wait = now - w->start_ns;
	struct pi_lock_key k = { .addr = wk.addr, .tgid = tgid, .pid = pid, .kind = PI_LK_KERNEL, .flags = w->kind };
	bpf_map_delete_elem(&lk_kwaits, &wk);

	struct pi_lock_stat *s = pi_lock_stat_of(&lk_stats, &k);
	if (!s)
		return 0;
	s->contended++;
	if (ret)
		s->failed++;
	if (wait >= s->wait_max_ns) {
		long n = bpf_get_stack(ctx, s->stack, sizeof(s->stack), 0);
		s->stack_len = n > 0 ? n / sizeof(__u64) : 0;
	}
	pi_lock_wait(s, wait);
	return 0;
}

#define SIGSTOP 19

/*
 * A process of a followed thread group exec'd a new program (its children are targets for every
 * category, src/collect/lock.ts): the uprobes of the process it was forked from do not follow it
 * into its new address space, and the new program may take its first lock a millisecond later. So
 * it is held: stopped (the signal is delivered before its first user instruction) and announced;
 * user space attaches the probes for its pid on the library it will load, then continues it. No
 * record, no stop: a full ring never leaves a process stopped. Exec is rare next to what the other
 * hooks see; this is its own program, attached only with lock and a thread-group, cgroup or
 * container target.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(lock_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p || !(pi_cats(p) & PI_CAT_LOCK) || (p->target_kind != PI_TARGET_TGID && p->target_kind < PI_TARGET_CGROUP))
		return 0;
	if (!pi_is_target(p, task->pid, task->tgid, bpf_get_smp_processor_id()))
		return 0;
	struct pi_lock_exec_event *e = pi_reserve(sizeof(*e), PI_EV_LOCK_EXEC);
	if (!e)
		return 0;
	pi_fill_hdr(&e->hdr, PI_EV_LOCK_EXEC, task);
	e->start_ns = task->start_time; /* de_thread() gave a non-leader that execs the leader's */
	if (bpf_send_signal(SIGSTOP)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	pi_submit(e, sizeof(*e), PI_WAKE_NOW);
	return 0;
}

/*
 * A cgroup target: a process moved into the cgroup (or below it) while collection runs. Its uprobes
 * were never attached (activation probed the processes there then; a fork inherits them; lock_exec
 * covers an exec), so it is announced and user space attaches them for its pid on the libraries it
 * has mapped. It is not held: someone else moved it, and stopping a running service for a profiler
 * is not ours to do, so its pthread locks between the move and the attach are missed
 * (docs/architecture.md). Once per move (the tracepoint runs once for a whole thread group, with its
 * leader); a move within the target's tree announces a process already probed, which user space
 * recognises. Moves are rare; attached only with lock and a cgroup target.
 */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(lock_cgroup_join, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p || !(pi_cats(p) & PI_CAT_LOCK) || p->target_kind != PI_TARGET_CGROUP || !pi_task_in_cgroup(p, task))
		return 0;
	if (!p->myproc && BPF_CORE_READ(task, tgid) == pi_self_tgid)
		return 0;
	struct pi_lock_exec_event *e = pi_reserve(sizeof(*e), PI_EV_LOCK_JOIN);
	if (!e)
		return 0;
	pi_fill_hdr(&e->hdr, PI_EV_LOCK_JOIN, task);
	e->start_ns = BPF_CORE_READ(task, group_leader, start_time); /* the process's, as lock_exec's */
	pi_submit(e, sizeof(*e), PI_WAKE_NOW);
	return 0;
}
