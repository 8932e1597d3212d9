// SPDX-License-Identifier: GPL-2.0
/* Benchmark: programs on sys_enter and sys_exit that each read the clock once and do nothing else:
 * the least any tool that times every syscall (enter -> exit) pays per call, beyond the empty
 * programs of empty_syscalls.bpf.c. bpf_ktime_get_ns is a helper call (not inlined) that reads the
 * TSC, ordered: what it costs depends on the machine (a VM's rdtscp, return thunks). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(clock_sys_enter, struct pt_regs *regs, long id)
{
	bpf_ktime_get_ns(); /* a helper call: the compiler keeps it. Its value goes nowhere (a global
			     * written from every CPU would add cache-line bouncing to the floor) */
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(clock_sys_exit, struct pt_regs *regs, long ret)
{
	bpf_ktime_get_ns(); /* a helper call: the compiler keeps it. Its value goes nowhere (a global
			     * written from every CPU would add cache-line bouncing to the floor) */
	return 0;
}
