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
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		pi_count_lost(reason);
	return v;
}

#endif /* MAPS_BPF_H */
