// SPDX-License-Identifier: GPL-2.0
/*
 * syscall: per target thread, the sequence of its system calls (handed over N at a time, -s N) and,
 * per thread and syscall, count, errors and latency kept in the kernel; per syscall number, the
 * counts of the whole system beside them.
 *
 * sys_enter and sys_exit are the hottest hooks there are: once attached, these programs run for
 * every syscall of every process. So a non-target's path is one per-CPU cache of the target test
 * (below) and one per-CPU counter (the system's counts); everything else happens for targets only
 * (docs/performance.md has the measured cost). They are also the only procimage programs on those
 * hooks: lock's futex-wait tracking (futex.bpf.h) runs inside them when the policy has the lock bit.
 */
#include "common.bpf.h"
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
 * Per target thread: the syscall in flight and the latest numbers. Marked when the thread exits, and
 * deleted by user space after it has reported the thread (so its last syscalls show in text too).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pi_sc_thread);
} sc_threads SEC(".maps");

/*
 * Per (thread, syscall): count, errors, latency and its histogram. Allocated as used, not
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

static const struct pi_sc_thread zero_thread;
static const struct pi_sc_stat zero_stat;

/*
 * Whether the task that last made a syscall on this CPU is a target. The target test costs a helper
 * call (bpf_get_current_pid_tgid: ~7 ns here, ~10% of what a program on the hook costs at all) on
 * every syscall of every process; a task making syscalls in a row asks the same question each time.
 * The tracepoint hands over the task's user registers, which live at the top of its kernel stack: a
 * pointer that is the task's own for as long as it lives, and free to compare. So each CPU remembers
 * the last one and the answer it got.
 *   - The answer for a live task does not change within an activation (a thread group gains new
 *     processes, but new tasks; it loses dead ones); user space zeroes the cache at activation.
 *   - A dead task's stack is reused by new tasks: syscall_task_exit clears, on every CPU, the entry
 *     of every task that exits (before its stack can be freed), target or not.
 *   - Programs on the syscall tracepoints run with preemption disabled, and a program does not nest
 *     on a CPU: nothing interleaves with an update of the entry.
 * The entry also keeps the policy's categories, so that a hit needs no policy lookup either: these
 * programs are attached only while a policy is active (activation writes it before attaching them,
 * deactivation detaches them before writing the ready state), and the cache starts empty each time.
 */
struct target_cache {
	__u64 regs;       /* the task's struct pt_regs (0: nothing cached) */
	__u32 target;     /* pi_is_target's answer for it */
	__u32 categories; /* the policy's */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct target_cache);
} sc_tcache SEC(".maps");

/*
 * The current task's verdict and the policy's categories, through this CPU's cache: no helper call
 * and no policy lookup when it hits. Returns the categories if the task is a target, else 0 (and
 * *cats the categories either way, 0 without an active policy).
 */
static __always_inline __u32 current_is_target(struct pt_regs *regs, __u32 *cats)
{
	__u32 zero = 0;
	struct target_cache *c = bpf_map_lookup_elem(&sc_tcache, &zero);

	if (c && c->regs == (__u64)regs) {
		*cats = c->categories;
		return c->target ? c->categories : 0;
	}
	const struct pi_policy *p = pi_active_policy();
	if (!p) {
		*cats = 0;
		return 0;
	}
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 target = pi_is_target(p, pt, pt >> 32, bpf_get_smp_processor_id());
	*cats = p->categories;
	if (c) {
		c->regs = (__u64)regs;
		c->target = target;
		c->categories = *cats;
	}
	return target ? *cats : 0;
}

/* An exiting task's cache entries, on every CPU: its stack may be a new task's soon. */
static __always_inline void forget_task(struct task_struct *task)
{
	__u64 regs = (__u64)bpf_task_pt_regs(task);
	__u32 zero = 0;

	for (__u32 cpu = 0; cpu < PI_MAX_CPUS; cpu++) {
		struct target_cache *c = bpf_map_lookup_percpu_elem(&sc_tcache, &zero, cpu);
		if (!c)
			break; /* past the last possible CPU */
		if (c->regs == regs)
			c->regs = 0;
	}
}

static __always_inline void count_system(long id)
{
	__u32 slot = (__u64)id < PI_SC_NR_MAX ? id : PI_SC_NR_MAX; /* negative ids land in the last slot too */
	__u64 *n = bpf_map_lookup_elem(&sc_sys, &slot);

	if (n)
		*n += 1;
}

/* Hands over syscalls [end - len, end) of the thread as one syscall_seq record. */
static __always_inline void emit_seq(struct pi_sc_thread *t, __u64 end, __u32 len, __u32 partial,
				     struct task_struct *task)
{
	t->emitted = end; /* a batch the ring cannot take is lost, and counted as such by pi_reserve */
	struct pi_syscall_seq_event *e = pi_reserve(sizeof(*e), PI_EV_SYSCALL_SEQ);
	if (!e)
		return;
	pi_fill_hdr(&e->hdr, PI_EV_SYSCALL_SEQ, task);
	e->first = end - len;
	e->len = len;
	e->partial = partial;
	__builtin_memcpy(e->ring, t->ring, sizeof(e->ring));
	pi_submit(e, sizeof(*e), PI_WAKE_LATER); /* a batch every N syscalls: nobody waits for one */
}

static __always_inline void count_call(__u32 pid, __u32 tgid, __u32 nr, long ret, __u64 latency, int timed)
{
	struct pi_sc_key k = { .pid = pid, .nr = nr };
	struct pi_sc_stat *s = pi_lookup_or_init(&sc_stats, &k, &zero_stat, PI_LOST_SC_STATS_FULL);

	if (!s)
		return;
	s->tgid = tgid;
	s->count++;
	if (timed) {
		s->timed++;
		s->total_ns += latency;
		if (latency > s->max_ns)
			s->max_ns = latency;
		pi_log2_add(s->slots, latency);
	}
	if (ret < 0 && ret >= -4095) {
		s->errors++;
		struct pi_sc_errno_key ek = { .pid = pid, .nr = nr, .err = -ret };
		static const __u64 zero;
		__u64 *n = pi_lookup_or_init(&sc_errnos, &ek, &zero, PI_LOST_SC_ERRNOS_FULL);
		if (n)
			*n += 1;
	}
}

static __always_inline void syscall_entered(const struct pi_policy *p, __u32 pid, __u32 tgid, long id, __u64 now)
{
	struct pi_sc_thread *t = pi_lookup_or_init(&sc_threads, &pid, &zero_thread, PI_LOST_SC_THREADS_FULL);

	if (!t)
		return;
	if (t->exited) {
		/* a recycled pid, before user space deleted the last owner's entry: start afresh */
		t->count = 0;
		t->emitted = 0;
		t->exited = 0;
	}
	__u32 nr = id; /* exact, whatever it is: only array indexes need bounds (count_system) */
	__u64 k = t->count;
	t->tgid = tgid;
	t->nr = nr;
	t->enter_ns = now;
	t->ring[k & (PI_SC_RING - 1)] = nr;
	t->count = k + 1;
	if (k == 0)
		bpf_get_current_comm(t->comm, sizeof(t->comm));
	if (id == __NR_exit || id == __NR_exit_group) {
		/* they never return: counted here, untimed */
		count_call(pid, tgid, nr, 0, 0, 0);
		t->enter_ns = 0;
	}
	__u32 n = p->syscall_seq_len;
	if (n && k + 1 - t->emitted >= n)
		emit_seq(t, k + 1, n, 0, bpf_get_current_task_btf());
}

static __always_inline void syscall_exited(struct pt_regs *regs, __u32 pid, __u32 tgid, long ret, __u64 now)
{
	struct pi_sc_thread *t = bpf_map_lookup_elem(&sc_threads, &pid);

	if (t && t->enter_ns) {
		/* the number saved at entry: rt_sigreturn, for one, leaves orig_ax at -1 */
		count_call(pid, tgid, t->nr, ret, now - t->enter_ns, 1);
		t->enter_ns = 0;
		if (ret == 0 && (t->nr == __NR_execve || t->nr == __NR_execveat))
			bpf_get_current_comm(t->comm, sizeof(t->comm)); /* the new program's name */
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
	count_call(pid, tgid, nr, ret, 0, 0);
}

/*
 * What a target's syscall entry and exit do, as subprograms of their own (__noinline): the path of
 * everyone else then stays a few instructions long, without the spills the target's work would make
 * the compiler put in front of it. They look the policy up themselves: the cache spared the caller.
 */
static __noinline int target_entered(struct pt_regs *regs, long id)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p)
		return 0;
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 pid = pt, tgid = pt >> 32;
	__u64 now = bpf_ktime_get_ns();
	__u32 cats = p->categories;

	if (cats & PI_CAT_SYSCALL)
		syscall_entered(p, pid, tgid, id, now);
	if ((cats & PI_CAT_LOCK) && id == __NR_futex)
		futex_entered(regs->di, regs->si, pid, now);
	return 0;
}

static __noinline int target_exited(struct pt_regs *regs, long ret)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p)
		return 0;
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 pid = pt, tgid = pt >> 32;
	__u64 now = bpf_ktime_get_ns();
	__u32 cats = p->categories;

	if (cats & PI_CAT_SYSCALL)
		syscall_exited(regs, pid, tgid, ret, now);
	if ((cats & PI_CAT_LOCK) && regs->orig_ax == __NR_futex)
		futex_exited(pid, tgid, ret, now);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(syscall_enter, struct pt_regs *regs, long id)
{
	__u32 cats;

	if (id == __NR_uretprobe)
		return 0;
	if (current_is_target(regs, &cats))
		target_entered(regs, id);
	if (cats & PI_CAT_SYSCALL)
		count_system(id);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(syscall_exit, struct pt_regs *regs, long ret)
{
	__u32 cats;

	if (regs->orig_ax == __NR_uretprobe)
		return 0;
	if (current_is_target(regs, &cats))
		target_exited(regs, ret);
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
	__u32 pid = task->pid;
	struct pi_sc_thread *t = bpf_map_lookup_elem(&sc_threads, &pid);
	if (t && !t->exited) {
		__u64 pending = t->count - t->emitted;
		if (pending && pending < PI_SC_RING)
			emit_seq(t, t->count, pending, 1, task);
		t->enter_ns = 0;
		t->exited = 1;
	}
	bpf_map_delete_elem(&futex_inflight, &pid);
	return 0;
}
