/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel-only helpers shared by lock.bpf.c and futex.bpf.h: the (lock, thread) statistics entry. */
#ifndef LOCKSTAT_BPF_H
#define LOCKSTAT_BPF_H

#include "maps.bpf.h"
#include "log2.bpf.h"

static const struct pi_lock_stat pi_zero_lock_stat;

/*
 * The statistics entry of key in map, created if needed (NULL, counted, when the map is full). The
 * thread's name goes in with its first use: by the time user space reads it the thread may be gone.
 */
static __always_inline struct pi_lock_stat *pi_lock_stat_of(void *map, const struct pi_lock_key *key)
{
	struct pi_lock_stat *s = pi_lookup_or_init(map, key, &pi_zero_lock_stat, PI_LOST_LOCK_STATS_FULL);

	if (s && !s->comm[0])
		bpf_get_current_comm(s->comm, sizeof(s->comm));
	return s;
}

/* min/max/total of a duration, where min 0 means "none yet". */
static __always_inline void pi_minmax(__u64 *total, __u64 *min, __u64 *max, __u64 d)
{
	*total += d;
	if (*min == 0 || d < *min)
		*min = d;
	if (d > *max)
		*max = d;
}

/* A wait of d ns: its total, min and max, and its histogram slot. */
static __always_inline void pi_lock_wait(struct pi_lock_stat *s, __u64 d)
{
	pi_log2_add(s->wait_slots, d);
	pi_minmax(&s->wait_total_ns, &s->wait_min_ns, &s->wait_max_ns, d);
}

/*
 * A wait of d ns on key's lock that key's owner caused (lk_owners, futex_wakers); site and stack: the
 * owner's acquisition (its call site; lk_hold_stacks id + 1 with --stack fp, else 0), kept for the
 * longest wait that has one (a waiter can find the new owner in the mutex before the owner's return
 * probe saw its acquisition).
 */
static __always_inline void pi_lock_owner_add(void *map, const struct pi_lock_owner_key *key, __u64 d, __u32 stack, __u64 site)
{
	static const struct pi_lock_owner zero;
	struct pi_lock_owner *o = pi_lookup_or_init(map, key, &zero, PI_LOST_LOCK_STATS_FULL);

	if (!o)
		return;
	o->count++;
	o->wait_ns += d;
	if (d >= o->max_wait_ns) {
		o->max_wait_ns = d;
		if (site) {
			o->stack = stack;
			o->site = site;
		}
	} else if (!o->site) {
		o->stack = stack;
		o->site = site;
	}
}

#endif /* LOCKSTAT_BPF_H */
