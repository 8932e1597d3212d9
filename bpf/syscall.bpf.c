// SPDX-License-Identifier: GPL-2.0
/*
 * syscall: per target thread, the sequence of its system calls (handed over N at a time, -s N) and,
 * per thread and syscall, count, errors and latency kept in the kernel; per syscall number, the
 * counts of the whole system beside them.
 *
 * sys_enter and sys_exit are the hottest hooks there are: once attached, these programs run for
 * every syscall of every process. So a non-target's path is one per-CPU cache of the target test
 * (below) and one per-CPU counter (the system's counts); everything else happens for targets only,
 * and a target's path reads the clock twice (its latency) and otherwise finds everything through
 * that cache with inlined array lookups (docs/performance.md has the measured cost). They are also
 * the only procimage programs on those hooks: lock's futex-wait tracking (futex.bpf.h) runs inside
 * them when the policy has the lock bit.
 */
#include "common.bpf.h"
#include "cgroup.bpf.h"
#include "maps.bpf.h"
#include "futex.bpf.h"
#include "log2.bpf.h"
#include <asm/unistd_64.h> /* syscall numbers, from linux-libc-dev */

char LICENSE[] SEC("license") = "GPL";

/*
 * The return of a uretprobe (Linux 6.11+) is a syscall its trampoline makes: uprobes' machinery —
 * lock's own, with -l — not a call of the program, so it is left out of counts and sequences.
 * Newer than the linux-libc-dev header of some build machines, hence the fallback.
 */
#ifndef __NR_uretprobe
#define __NR_uretprobe 335
#endif

/*
 * The state of each live target thread, a slot each. An array, not a hash by pid: the per-CPU
 * cache below hands over the slot of the thread it holds, so a target's syscall reaches its state
 * and its figures with inlined array lookups and no helper call but the clock (a hash lookup costs
 * ~25 ns here, task storage two helper calls: docs/performance.md). A thread takes a slot at its
 * first syscall (take_slot) and gives it back at its exit, leaving its last state in sc_exited.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PI_SC_THREADS);
	__type(key, __u32);
	__type(value, struct pi_sc_slot);
} sc_slots SEC(".maps");

/* Which slots are free, and how much of sc_fast is handed out: reset by user space at activation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pi_sc_ctl);
} sc_ctl SEC(".maps");

/* A task's slot in this activation (gen: the policy's generation it was taken in). */
struct sc_task_slot {
	__u32 gen;
	__u32 slot; /* SC_NO_SLOT: none could be had (counted lost once) */
};

#define SC_NO_SLOT 0xffffffffU

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sc_task_slot);
} sc_task SEC(".maps");

/*
 * An exited thread's last state, by pid, until user space has reported it once more and deleted it
 * (so that its last syscalls show in text too). Allocated as used: exits are rare next to syscalls.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PI_SC_THREADS);
	__type(key, __u32);
	__type(value, struct pi_sc_thread);
} sc_exited SEC(".maps");

/*
 * Per (thread, syscall): count, errors, latency and its histogram, handed out in order (sc_ctl's
 * fast_next) and found through the thread's slot (pos). Preallocated, so it is bounded (~3 MB);
 * past it, and for a number whose positions in the slot are taken, sc_stats below.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PI_SC_FAST);
	__type(key, __u32);
	__type(value, struct pi_sc_stat);
} sc_fast SEC(".maps");

/*
 * Per (thread, syscall), the same, where sc_fast has no place for it. Allocated as used, not
 * preallocated: ~420 bytes an entry would hold 14 MB of kernel memory from load on, ready or not.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 32768);
	__type(key, struct pi_sc_key);
	__type(value, struct pi_sc_stat);
} sc_stats SEC(".maps");

/* Per (thread, syscall, errno): how many calls failed with it. Only failures come here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct pi_sc_errno_key);
	__type(value, __u64);
} sc_errnos SEC(".maps");

/*
 * Every process's syscalls by number, per CPU: counts only, no timestamps, no hash lookup, so that
 * non-targets pay as little as possible. The last slot counts every number >= PI_SC_NR_MAX.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PI_SC_NR_MAX + 1);
	__type(key, __u32);
	__type(value, __u64);
} sc_sys SEC(".maps");

static const struct pi_sc_stat zero_stat;

/*
 * Whether the tasks that last made syscalls on this CPU are targets, and their slots. The target
 * test costs a helper call (bpf_get_current_pid_tgid: ~7 ns here, ~10% of what a program on the hook
 * costs at all) on every syscall of every process; a task making syscalls in a row asks the same
 * question each time. The tracepoint hands over the task's user registers, which live at the top of
 * its kernel stack: a pointer that is the task's own for as long as it lives, and free to compare.
 * So each CPU remembers the last two tasks (two processes passing work back and forth on one CPU,
 * a pipe's writer and reader, are each other's only neighbours) and the answers they got.
 *   - The answer for a live task does not change within an activation (a thread group gains new
 *     processes, but new tasks; it loses dead ones); user space zeroes the cache at activation.
 *   - A dead task's stack is reused by new tasks: syscall_task_exit clears, on every CPU, the entry
 *     of every task that exits (before its stack can be freed), target or not. The same program
 *     gives the task's slot back only after that.
 *   - Programs on the syscall tracepoints run with preemption disabled, and a program does not nest
 *     on a CPU: nothing interleaves with an update of the entry.
 * An entry also keeps what the policy says, so that a hit needs no policy lookup either: these
 * programs are attached only while a policy is active (activation writes it before attaching them,
 * deactivation detaches them before writing the ready state), and the cache starts empty each time.
 */
struct target_cache {
	__u64 regs;       /* the task's struct pt_regs (0: nothing cached) */
	__u32 target;     /* pi_is_target's answer for it */
	__u32 categories; /* the policy's */
	__u32 slot;       /* a target's slot in sc_slots when the policy has syscall, else SC_NO_SLOT */
	__u32 seq_len;    /* the policy's syscall_seq_len */
};

struct target_caches {
	struct target_cache way[2];
	__u32 next; /* the way a miss fills: each miss fills the other one than the last */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct target_caches);
} sc_tcache SEC(".maps");

/* The index of the lowest set bit of v (!= 0), by de Bruijn multiplication: no branch for the verifier to follow. */
static const __u8 debruijn64[64] = {
	0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51, 43, 22, 45, 39,
	33, 30, 24, 18, 12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11, 46, 26, 40,
	15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6,
};

static __always_inline __u32 lowest_bit(__u64 v)
{
	return debruijn64[((v & -v) * 0x03f79d71b4cb0a89ULL) >> 58];
}

/*
 * bpf_loop's callback over the free-slot words: takes a free slot of word i into *slot and stops, or
 * goes on to the next word (none free, or another CPU changed this one first: one try each).
 */
static long take_from_word(__u32 i, __u32 *slot)
{
	__u32 zero = 0;
	struct pi_sc_ctl *ctl = bpf_map_lookup_elem(&sc_ctl, &zero);

	if (!ctl || i >= PI_SC_THREADS / 64)
		return 1;
	__u64 v = *(volatile __u64 *)&ctl->free[i];
	if (!v)
		return 0;
	__u64 bit = v & -v;
	if (__sync_val_compare_and_swap(&ctl->free[i], v, v & ~bit) != v)
		return 0;
	*slot = i * 64 + lowest_bit(v);
	return 1;
}

/*
 * A free slot for the current thread, made its own (every field set, the pid last: user space
 * reads a slot whose pid is 0 as empty), else SC_NO_SLOT, counted. Once per thread and activation.
 */
static __noinline __u32 take_slot(__u32 pid, __u32 tgid)
{
	__u32 slot = SC_NO_SLOT;

	bpf_loop(PI_SC_THREADS / 64, take_from_word, &slot, 0);
	struct pi_sc_slot *s = bpf_map_lookup_elem(&sc_slots, &slot);
	if (!s) {
		pi_count_lost(PI_LOST_SC_THREADS_FULL);
		return SC_NO_SLOT;
	}
	s->t.tgid = tgid;
	s->t.enter_ns = 0;
	s->t.count = 0;
	s->t.emitted = 0;
	s->t.nr = 0;
	s->t.exited = 0;
	bpf_get_current_comm(s->t.comm, sizeof(s->t.comm));
	__builtin_memset(s->pos, 0, sizeof(s->pos));
	asm volatile("" ::: "memory");
	s->t.pid = pid;
	return slot;
}

static __always_inline void give_slot_back(__u32 slot)
{
	__u32 zero = 0;
	struct pi_sc_ctl *ctl = bpf_map_lookup_elem(&sc_ctl, &zero);

	if (ctl && slot < PI_SC_THREADS)
		__sync_fetch_and_or(&ctl->free[slot / 64], 1ULL << (slot % 64));
}

/* The current thread's slot in this activation, taken at its first syscall. */
static __always_inline __u32 thread_slot(const struct pi_policy *p, __u32 pid, __u32 tgid)
{
	struct sc_task_slot *ts = bpf_task_storage_get(&sc_task, bpf_get_current_task_btf(), 0,
						       BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ts) {
		pi_count_lost(PI_LOST_MAP_ALLOC); /* the allocator had nothing at hand: tried again at the next miss */
		return SC_NO_SLOT;
	}
	if (ts->gen != p->generation) {
		ts->gen = p->generation;
		ts->slot = take_slot(pid, tgid);
	}
	return ts->slot;
}

/*
 * With a cgroup (or -o) target a thread's answer changes when it moves: syscall_cgroup_attach makes
 * this odd, updates the bits, makes it even again, then empties every CPU's cache. A fill that read
 * the count odd, or finds it changed after it wrote its entry, keeps nothing (it may have read the bit
 * before the move and written after the emptying). Read on a miss only, with such a target only.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sc_member_seq SEC(".maps");

static __always_inline __u64 member_seq(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&sc_member_seq, &zero);

	return n ? *(volatile __u64 *)n : 1;
}

/* A cache miss: the target test, and a target's slot, for the current task. */
static __noinline void cache_fill(struct target_cache *c, struct pt_regs *regs)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p) {
		c->regs = 0;
		c->target = c->categories = 0;
		return;
	}
	int members = pi_member_kind(p);
	__u64 seq = members ? member_seq() : 0;
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 target = pi_is_target(p, pt, pt >> 32, bpf_get_smp_processor_id());
	c->regs = (__u64)regs;
	c->target = target;
	c->categories = p->categories;
	c->seq_len = p->syscall_seq_len;
	c->slot = target && (p->categories & PI_CAT_SYSCALL) ? thread_slot(p, pt, pt >> 32) : SC_NO_SLOT;
	if (members) {
		asm volatile("" ::: "memory");
		if ((seq & 1) || member_seq() != seq)
			c->regs = 1; /* answered for this call, not kept: no task's registers are at 1 */
	}
}

/* This CPU's cache entry for the current task (filled on a miss); NULL without a policy. */
static __always_inline struct target_cache *current_cache(struct pt_regs *regs)
{
	__u32 zero = 0;
	struct target_caches *cs = bpf_map_lookup_elem(&sc_tcache, &zero);

	if (!cs)
		return 0;
	if (cs->way[0].regs == (__u64)regs)
		return &cs->way[0];
	if (cs->way[1].regs == (__u64)regs)
		return &cs->way[1];
	__u32 w = cs->next & 1;
	struct target_cache *c = &cs->way[w];
	cs->next = w ^ 1;
	cache_fill(c, regs);
	return c->regs ? c : 0;
}

/* bpf_loop's callback: clears CPU cpu's cache entries of the task whose registers are at *regs. */
static long forget_on_cpu(__u32 cpu, __u64 *regs)
{
	__u32 zero = 0;
	struct target_caches *cs = bpf_map_lookup_percpu_elem(&sc_tcache, &zero, cpu);

	if (!cs)
		return 1; /* past the last possible CPU */
	if (cs->way[0].regs == *regs)
		cs->way[0].regs = 0;
	if (cs->way[1].regs == *regs)
		cs->way[1].regs = 0;
	return 0;
}

/*
 * An exiting task's cache entries, on every CPU: its stack may be a new task's soon. Through
 * bpf_loop, which the verifier checks once, not once per CPU of PI_MAX_CPUS.
 */
static __always_inline void forget_task(struct task_struct *task)
{
	__u64 regs = (__u64)bpf_task_pt_regs(task);

	bpf_loop(PI_MAX_CPUS, forget_on_cpu, &regs, 0);
}

static __always_inline void count_system(long id)
{
	__u32 slot = (__u64)id < PI_SC_NR_MAX ? id : PI_SC_NR_MAX; /* negative ids land in the last slot too */
	__u64 *n = bpf_map_lookup_elem(&sc_sys, &slot);

	if (n)
		*n += 1;
}

/* A syscall_seq record for len numbers, of the smallest size that holds them (*size). */
static __always_inline struct pi_syscall_seq_event *reserve_seq(__u32 len, __u64 *size)
{
	/* bpf_ringbuf_reserve takes a constant size: one of four */
	if (len <= 8)
		*size = PI_SC_SEQ_SIZE(8);
	else if (len <= 16)
		*size = PI_SC_SEQ_SIZE(16);
	else if (len <= 32)
		*size = PI_SC_SEQ_SIZE(32);
	else
		*size = PI_SC_SEQ_SIZE(PI_SC_RING);
	switch (*size) {
	case PI_SC_SEQ_SIZE(8):
		return pi_reserve(PI_SC_SEQ_SIZE(8), PI_EV_SYSCALL_SEQ);
	case PI_SC_SEQ_SIZE(16):
		return pi_reserve(PI_SC_SEQ_SIZE(16), PI_EV_SYSCALL_SEQ);
	case PI_SC_SEQ_SIZE(32):
		return pi_reserve(PI_SC_SEQ_SIZE(32), PI_EV_SYSCALL_SEQ);
	}
	return pi_reserve(PI_SC_SEQ_SIZE(PI_SC_RING), PI_EV_SYSCALL_SEQ);
}

/*
 * The subprograms below are global (not static): the verifier checks a global one once, on its own,
 * where a static one is checked again at every call site with the caller's state. The cold paths of
 * the target's hooks (a record every N syscalls, a new (thread, syscall) entry) are called from
 * several inlined places: as static subprograms, syscall_enter took 13,200 instructions to verify,
 * 4,600 as global ones (the object loads in ~40 ms, where loading is start-up time: issue 16).
 * A global subprogram returns a scalar and takes pointers to memory that may be NULL.
 */

/*
 * Hands over syscalls [end - len, end) of the current thread as one syscall_seq record stamped `now`:
 * from the entry path, a full batch (`now` the entry of its last syscall); at the thread's exit
 * (partial), what is left, fewer than N. The current task is the thread in both (sched_process_exit
 * runs in the exiting task).
 */
__noinline int sc_emit_seq(struct pi_sc_thread *t, __u64 end, __u32 len, __u64 now, __u32 partial)
{
	__u64 size;

	if (!t)
		return 0;
	t->emitted = end; /* a batch the ring cannot take is lost, and counted as such by pi_reserve */
	if (!len || len > PI_SC_RING)
		return 0;
	struct pi_syscall_seq_event *e = reserve_seq(len, &size);
	if (!e)
		return 0;
	e->hdr.type = PI_EV_SYSCALL_SEQ;
	e->hdr.cpu = bpf_get_smp_processor_id();
	e->hdr.pid = t->pid;
	e->hdr.tgid = t->tgid;
	e->hdr.ts_ns = now;
	bpf_get_current_comm(e->hdr.comm, sizeof(e->hdr.comm));
	__u64 first = end - len;
	e->first = first;
	e->len = len;
	e->partial = partial;
	for (__u32 i = 0; i < PI_SC_RING; i++) {
		if (i >= len || PI_SC_SEQ_SIZE(i + 1) > size)
			break;
		e->nrs[i] = t->ring[(first + i) & (PI_SC_RING - 1)];
	}
	pi_submit(e, size, PI_WAKE_LATER); /* a batch every N syscalls: nobody waits for one */
	return 0;
}

/*
 * A new sc_fast entry for syscall nr of the slot's thread, at pos[at]: 1 + its index, or 0 when
 * sc_fast is full.
 */
__noinline __u32 sc_new_fast(struct pi_sc_slot *s, __u32 at, __u32 nr)
{
	__u32 zero = 0;
	struct pi_sc_ctl *ctl = bpf_map_lookup_elem(&sc_ctl, &zero);

	if (!s || !ctl || ctl->fast_next >= PI_SC_FAST || at >= PI_SC_POS)
		return 0;
	__u32 idx = __sync_fetch_and_add(&ctl->fast_next, 1);
	struct pi_sc_stat *st = bpf_map_lookup_elem(&sc_fast, &idx);
	if (!st)
		return 0; /* past the end: another CPU took the last one */
	__builtin_memset(st, 0, sizeof(*st));
	st->tgid = s->t.tgid;
	st->pid = s->t.pid;
	st->nr = nr;
	asm volatile("" ::: "memory");
	s->pos[at] = idx + 1;
	return idx + 1;
}

/* The sc_fast entry of syscall nr of the slot's thread, made if need be; NULL: use sc_stats. */
static __always_inline struct pi_sc_stat *fast_stat(struct pi_sc_slot *s, __u32 nr)
{
#pragma unroll
	for (__u32 i = 0; i < PI_SC_PROBES; i++) {
		__u32 at = (nr + i) & (PI_SC_POS - 1);
		__u32 idx = s->pos[at];
		int fresh = !idx;
		if (fresh && !(idx = sc_new_fast(s, at, nr)))
			return 0;
		idx--;
		struct pi_sc_stat *st = bpf_map_lookup_elem(&sc_fast, &idx);
		if (fresh || (st && st->nr == nr))
			return st;
	}
	return 0;
}

/* One call of syscall nr counted (and timed, and its error), through the slot s if the thread has one. */
static __always_inline void count_call(struct pi_sc_slot *s, __u32 pid, __u32 tgid, __u32 nr, long ret,
				       __u64 latency, int timed)
{
	struct pi_sc_stat *st = s ? fast_stat(s, nr) : 0;

	if (!st) {
		struct pi_sc_key k = { .pid = pid, .nr = nr };
		st = pi_lookup_or_init(&sc_stats, &k, &zero_stat, PI_LOST_SC_STATS_FULL);
		if (!st)
			return;
		st->tgid = tgid;
		st->pid = pid;
		st->nr = nr;
	}
	st->count++;
	if (timed) {
		st->timed++;
		st->total_ns += latency;
		if (latency > st->max_ns)
			st->max_ns = latency;
		pi_log2_add(st->slots, latency);
	}
	if (ret < 0 && ret >= -4095) {
		st->errors++;
		struct pi_sc_errno_key ek = { .pid = pid, .nr = nr, .err = -ret };
		static const __u64 zero;
		__u64 *n = pi_lookup_or_init(&sc_errnos, &ek, &zero, PI_LOST_SC_ERRNOS_FULL);
		if (n)
			*n += 1;
	}
}

static __always_inline void syscall_entered(struct pi_sc_slot *s, __u32 seq_len, long id, __u64 now)
{
	struct pi_sc_thread *t = &s->t;
	__u32 nr = id; /* exact, whatever it is: only array indexes need bounds (count_system) */
	__u64 k = t->count;

	t->nr = nr;
	t->enter_ns = now;
	t->ring[k & (PI_SC_RING - 1)] = nr;
	t->count = k + 1;
	if (id == __NR_exit || id == __NR_exit_group) {
		/* they never return: counted here, untimed */
		count_call(s, t->pid, t->tgid, nr, 0, 0, 0);
		t->enter_ns = 0;
	}
	if (seq_len && k + 1 - t->emitted >= seq_len)
		sc_emit_seq(t, k + 1, seq_len, now, 0);
}

static __always_inline void syscall_exited(struct pi_sc_slot *s, struct pt_regs *regs, long ret)
{
	struct pi_sc_thread *t = &s->t;

	if (t->enter_ns) {
		/* the number saved at entry: rt_sigreturn, for one, leaves orig_ax at -1 */
		__u32 nr = t->nr;
		count_call(s, t->pid, t->tgid, nr, ret, bpf_ktime_get_ns() - t->enter_ns, 1);
		t->enter_ns = 0;
		if (ret == 0 && (nr == __NR_execve || nr == __NR_execveat)) {
			bpf_get_current_comm(t->comm, sizeof(t->comm)); /* the new program's name */
			/* a thread other than the leader that execs takes the leader's pid */
			__u64 pt = bpf_get_current_pid_tgid();
			t->pid = pt;
			t->tgid = pt >> 32;
		}
		return;
	}
	/* entered before activation (counted, as syscount does, but untimed), or a new task's first return */
	__u32 nr = regs->orig_ax;
	/*
	 * No number: sys_uretprobe (whose entry syscall_enter skipped) returns with orig_ax set to -1
	 * (seen on 6.18), as rt_sigreturn does; a call nothing can name is not worth a "syscall_-1" row.
	 */
	if (nr == (__u32)-1)
		return;
	if (ret == 0 && (nr == __NR_clone || nr == __NR_clone3 || nr == __NR_fork || nr == __NR_vfork))
		return; /* the child's return from fork/clone: not a call the child made */
	count_call(s, t->pid, t->tgid, nr, ret, 0, 0);
}

/*
 * A target without a slot (every slot taken, or lock without syscall on a kernel without the futex
 * syscall's own tracepoints): what can be done by pid, the slow way.
 */
static __noinline void slotless_entered(struct pt_regs *regs, long id, __u32 cats)
{
	__u64 pt = bpf_get_current_pid_tgid();

	if ((cats & PI_CAT_LOCK) && id == __NR_futex)
		futex_entered(regs->di, regs->si, pt, bpf_ktime_get_ns());
}

static __noinline void slotless_exited(struct pt_regs *regs, long ret, __u32 cats)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 nr = regs->orig_ax;

	if ((cats & PI_CAT_SYSCALL) && nr != (__u32)-1 &&
	    !(ret == 0 && (nr == __NR_clone || nr == __NR_clone3 || nr == __NR_fork || nr == __NR_vfork)))
		count_call(0, pt, pt >> 32, nr, ret, 0, 0);
	if ((cats & PI_CAT_LOCK) && nr == __NR_futex)
		futex_exited(pt, pt >> 32, ret, bpf_ktime_get_ns());
}

SEC("tp_btf/sys_enter")
int BPF_PROG(syscall_enter, struct pt_regs *regs, long id)
{
	if (id == __NR_uretprobe)
		return 0;
	struct target_cache *c = current_cache(regs);
	if (!c)
		return 0;
	if (c->target) {
		__u32 slot = c->slot;
		struct pi_sc_slot *s = bpf_map_lookup_elem(&sc_slots, &slot);
		if (s) {
			__u64 now = bpf_ktime_get_ns();
			syscall_entered(s, c->seq_len, id, now);
			if ((c->categories & PI_CAT_LOCK) && id == __NR_futex)
				futex_entered(regs->di, regs->si, s->t.pid, now);
		} else {
			slotless_entered(regs, id, c->categories);
		}
	}
	if (c->categories & PI_CAT_SYSCALL)
		count_system(id);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(syscall_exit, struct pt_regs *regs, long ret)
{
	if (regs->orig_ax == __NR_uretprobe)
		return 0;
	struct target_cache *c = current_cache(regs);
	if (!c || !c->target)
		return 0;
	__u32 slot = c->slot;
	struct pi_sc_slot *s = bpf_map_lookup_elem(&sc_slots, &slot);
	if (!s) {
		slotless_exited(regs, ret, c->categories);
		return 0;
	}
	syscall_exited(s, regs, ret);
	if ((c->categories & PI_CAT_LOCK) && regs->orig_ax == __NR_futex)
		futex_exited(s->t.pid, s->t.tgid, ret, bpf_ktime_get_ns());
	return 0;
}

/*
 * lock without syscall: futex waits through the futex syscall's own tracepoints, which run for futex
 * calls only. Any program on sys_enter and sys_exit costs every syscall of every process ~130 ns here;
 * with these, the other syscalls pay ~40 ns (the kernel's syscall-tracing path and a bitmap test). With
 * syscall in the policy its programs see futex anyway, and these are not attached (src/collect/lock.ts).
 * Every futex call does a full target test (no per-CPU cache): they are few next to all syscalls.
 */
static __always_inline const struct pi_policy *futex_target(__u64 pt)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p || !(p->categories & PI_CAT_LOCK) || !pi_is_target(p, pt, pt >> 32, bpf_get_smp_processor_id()))
		return 0;
	return p;
}

SEC("tracepoint/syscalls/sys_enter_futex")
int futex_enter(struct syscall_trace_enter *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid();

	if (futex_target(pt))
		futex_entered(ctx->args[0], ctx->args[1], pt, bpf_ktime_get_ns());
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex")
int futex_exit(struct syscall_trace_exit *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid();

	if (futex_target(pt))
		futex_exited(pt, pt >> 32, ctx->ret, bpf_ktime_get_ns());
	return 0;
}

/*
 * A task's end, however it comes (a signal too): forget it in the target caches (every task), and
 * for a target hand over the syscalls not yet handed over and mark the thread gone. Exits are rare
 * next to syscalls, so this is its own program beside keytime's.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(syscall_task_exit, struct task_struct *task)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p)
		return 0;
	forget_task(task);
	struct sc_task_slot *ts = bpf_task_storage_get(&sc_task, task, 0, 0);
	if (ts && ts->gen == p->generation && ts->slot != SC_NO_SLOT) {
		__u32 slot = ts->slot;
		struct pi_sc_slot *s = bpf_map_lookup_elem(&sc_slots, &slot);
		if (s) {
			struct pi_sc_thread *t = &s->t;
			__u64 pending = t->count - t->emitted;
			if (pending && pending < PI_SC_RING)
				sc_emit_seq(t, t->count, pending, bpf_ktime_get_ns(), 1);
			t->enter_ns = 0;
			t->exited = 1;
			__u32 pid = t->pid;
			if (bpf_map_update_elem(&sc_exited, &pid, t, BPF_ANY))
				pi_count_lost(PI_LOST_SC_THREADS_FULL);
			t->pid = 0; /* empty to user space from now on */
			asm volatile("" ::: "memory");
			give_slot_back(slot);
		}
		ts->slot = SC_NO_SLOT;
	}
	__u32 pid = task->pid;
	bpf_map_delete_elem(&futex_inflight, &pid);
	return 0;
}

/* bpf_loop's callback: forgets every task cached on CPU cpu. */
static long forget_all_on_cpu(__u32 cpu, void *unused)
{
	__u32 zero = 0;
	struct target_caches *cs = bpf_map_lookup_percpu_elem(&sc_tcache, &zero, cpu);

	if (!cs)
		return 1;
	cs->way[0].regs = 0;
	cs->way[1].regs = 0;
	return 0;
}

/*
 * A cgroup target's thread moved in or out (or, with -o, exec'd into a container): its cached
 * verdict is stale. Keeps the bits (as keytime's program does, whichever runs first), between two
 * steps of sc_member_seq, and then empties every CPU's cache; a move is rare next to syscalls. A
 * fill racing with it keeps nothing (cache_fill).
 */
/* sc_member_seq one up (odd: bits changing; even: changed): see cache_fill. */
static __always_inline void member_seq_bump(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&sc_member_seq, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(syscall_cgroup_attach, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p || p->target_kind != PI_TARGET_CGROUP)
		return 0;
	member_seq_bump();
	pi_cgroup_moved(task, threadgroup);
	member_seq_bump();
	bpf_loop(PI_MAX_CPUS, forget_all_on_cpu, 0, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(syscall_member_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p || p->target_kind != PI_TARGET_CONTAINERS)
		return 0;
	member_seq_bump();
	pi_member_update(p, task);
	member_seq_bump();
	forget_task(task);
	return 0;
}
