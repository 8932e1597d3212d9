/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel-only map helpers (after libbpf-tools' maps.bpf.h). */
#ifndef MAPS_BPF_H
#define MAPS_BPF_H

#include "common.bpf.h"

/*
 * The entry for key, created from init if it is not there yet; NULL when the map is full, counted
 * as lost for `reason`. Two CPUs racing to create the same key both end up with the one entry.
 */
static __always_inline void *pi_lookup_or_init(void *map, const void *key, const void *init, __u32 reason)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	long err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);

	v = bpf_map_lookup_elem(map, key);
	/*
	 * Full is -E2BIG. An allocate-as-used map can also fail with room left: -ENOMEM when the BPF
	 * allocator's per-CPU cache ran dry before its refill (a burst of new entries; seen with a fork
	 * storm under CPU hogs), -EBUSY when the same bucket is locked on this CPU (a program nested in
	 * another's update). Each is counted for what it is.
	 */
	if (!v)
		pi_count_lost(err == -7 /* E2BIG */ ? reason : PI_LOST_MAP_ALLOC);
	return v;
}

#endif /* MAPS_BPF_H */
