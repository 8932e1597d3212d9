// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture: procimage's schedule object with one more program, which the verifier refuses (an
 * out-of-bounds stack read, as in bad.bpf.c). Installed in place of build/bpf/schedule.bpf.o, it is
 * what a user meets when a kernel's verifier rejects one of procimage's programs.
 */
#include "../../bpf/schedule.bpf.c"

SEC("tp_btf/sched_wakeup")
int BPF_PROG(refused, struct task_struct *t)
{
	volatile char buf[8] = {};
	volatile int i = 64;

	return buf[i];
}
