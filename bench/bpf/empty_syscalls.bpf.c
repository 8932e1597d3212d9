// SPDX-License-Identifier: GPL-2.0
/* Benchmark: programs that do nothing on both syscall hooks the syscall category uses (sys_enter and
 * sys_exit, tp_btf): what merely having them attached costs every syscall of every process, the
 * floor an active procimage is compared with (SPEC: non-targets pay <= 1.1x this). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(empty_sys_enter, struct pt_regs *regs, long id)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(empty_sys_exit, struct pt_regs *regs, long ret)
{
	return 0;
}
