// SPDX-License-Identifier: GPL-2.0
/* Benchmark: uprobe programs that do nothing, for the same libc functions as lock's: what the uprobe
 * mechanism itself costs a lock call (the floor lock's probes are compared with). Loaded for
 * uprobe_multi links, as lock's are. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("uprobe")
int empty_uprobe(void *ctx)
{
	return 0;
}

SEC("uretprobe")
int empty_uretprobe(void *ctx)
{
	return 0;
}
