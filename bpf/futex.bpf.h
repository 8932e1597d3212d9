/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lock: futex waits, per futex word and thread: how often and how long target threads wait in the
 * futex syscall. Included by syscall.bpf.c: run inside its sys_enter/sys_exit programs when those are
 * attached for syscall (a second program on sys_enter would cost every syscall of every process
 * again), else by its futex_enter/futex_exit programs on the futex syscall's own tracepoints. The
 * lock collector reads futex_waits through the syscall object.
 */
#ifndef FUTEX_BPF_H
#define FUTEX_BPF_H

#include "lockstat.bpf.h"
#include "sched.bpf.h"

/* include/uapi/linux/futex.h: the operations that put the caller to sleep */
#define FUTEX_WAIT 0
#define FUTEX_LOCK_PI 6
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_LOCK_PI2 13
#define FUTEX_CMD_MASK 127 /* ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) */

/* A futex wait in flight, by thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct pi_lock_call);
} futex_inflight SEC(".maps");

/* Waits by (futex word, thread); allocated as used, like lk_stats. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192);
	__type(key, struct pi_lock_key);
	__type(value, struct pi_lock_stat);
} futex_waits SEC(".maps");

/*
 * Futex waits by (futex word, waiter, the thread whose wake-up ended them): the wake-up keytime's
 * waker hook kept in the waiter's task storage (bpf/waker.bpf.h), when keytime collects.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192);
	__type(key, struct pi_lock_owner_key);
	__type(value, struct pi_lock_owner);
} futex_wakers SEC(".maps");

/* A target thread enters futex(uaddr, op, ...): remember a wait (only the operations that sleep). */
static __always_inline void futex_entered(__u64 uaddr, __u64 futex_op, __u32 pid, __u64 now)
{
	__u32 op = futex_op & FUTEX_CMD_MASK;

	if (op != FUTEX_WAIT && op != FUTEX_WAIT_BITSET && op != FUTEX_LOCK_PI && op != FUTEX_LOCK_PI2 &&
	    op != FUTEX_WAIT_REQUEUE_PI)
		return;
	struct pi_lock_call c = { .addr = uaddr, .start_ns = now, .op = op };
	if (bpf_map_update_elem(&futex_inflight, &pid, &c, BPF_ANY))
		pi_count_lost(PI_LOST_LOCK_CALLS_FULL);
}

static __always_inline void futex_exited(__u32 pid, __u32 tgid, long ret, __u64 now)
{
	struct pi_lock_call *c = bpf_map_lookup_elem(&futex_inflight, &pid);

	if (!c)
		return;
	struct pi_lock_key k = { .addr = c->addr, .tgid = tgid, .pid = pid, .kind = PI_LK_FUTEX };
	__u64 wait = now - c->start_ns;
	bpf_map_delete_elem(&futex_inflight, &pid);

	struct pi_lock_stat *s = pi_lock_stat_of(&futex_waits, &k);
	if (!s)
		return;
	s->contended++;
	if (ret < 0)
		s->failed++;
	pi_lock_wait(s, wait);

	/* a wake-up since the wait began ended it (not a timeout or a signal's: those have no waker task) */
	struct pi_task_state *t = bpf_task_storage_get(&pi_task, bpf_get_current_task_btf(), 0, 0);
	if (t && t->wake_ns >= now - wait && t->waker_pid && t->waker_pid != pid && !(t->waker_flags & PI_WAKER_KTHREAD)) {
		struct pi_lock_owner_key ok = { .addr = k.addr, .tgid = tgid, .pid = pid, .owner = t->waker_pid, .kind = PI_LK_FUTEX };
		pi_lock_owner_add(&futex_wakers, &ok, wait, 0, 0);
	}
}

#endif /* FUTEX_BPF_H */
