// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture: a feature-probe object whose tp_btf probe hooks a BTF tracepoint no kernel has.
 * Installed in place of build/bpf/probes.bpf.o, the kernel answers the probe as a kernel without
 * tp_btf would: what a user meets when a feature procimage needs is missing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/procimage_no_such_tracepoint")
int BPF_PROG(probe_tp_btf)
{
	return 0;
}
