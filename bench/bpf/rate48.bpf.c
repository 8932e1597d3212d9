// SPDX-License-Identifier: GPL-2.0
/* Benchmark: one 48-byte ring record per syscall of the target tgid, through procimage's own ring
 * map and lost counters (common.bpf.h), for the reader's throughput and loss onset. */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;

struct rec48 { __u32 type, pid; __u64 ts, seq, nr, a, b; };
_Static_assert(sizeof(struct rec48) == 48, "48-byte records");

__u64 seq;

SEC("tp_btf/sys_enter")
int BPF_PROG(rate48_sys_enter, struct pt_regs *regs, long id)
{
	__u64 pt = bpf_get_current_pid_tgid();
	if ((pt >> 32) != target_tgid || id != 110 /* getppid: what the producer counts */)
		return 0;
	struct rec48 *r = pi_reserve(sizeof(*r), 63); /* a type no category uses */
	if (!r)
		return 0;
	r->type = 1000;
	r->pid = (__u32)pt;
	r->ts = bpf_ktime_get_ns();
	r->seq = __sync_fetch_and_add(&seq, 1);
	r->nr = id;
	r->a = r->b = 0;
	pi_submit(r, sizeof(*r), PI_WAKE_LATER); /* as procimage's high-rate records */
	return 0;
}
