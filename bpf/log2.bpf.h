/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Log2 histograms of durations (PI_LOG2_SLOTS slots of ns), kept in the kernel for scheduling delay,
 * syscall latency and lock waits: user space turns them into Prometheus `le` buckets as they are.
 */
#ifndef LOG2_BPF_H
#define LOG2_BPF_H

#include "common.bpf.h"

/* floor(log2(v)), 0 for 0 and 1: branch-free, as BPF has no count-leading-zeros instruction. */
static __always_inline __u32 pi_log2(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xffff) << 4; v >>= shift; r |= shift;
	shift = (v > 0xff) << 3; v >>= shift; r |= shift;
	shift = (v > 0xf) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	return r | (__u32)(v >> 1);
}

/* Counts one duration of ns in its slot; the last slot takes everything longer. */
static __always_inline void pi_log2_add(__u64 *slots, __u64 ns)
{
	__u32 slot = pi_log2(ns);

	if (slot >= PI_LOG2_SLOTS)
		slot = PI_LOG2_SLOTS - 1;
	slots[slot]++;
}

#endif /* LOG2_BPF_H */
