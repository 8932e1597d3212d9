// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture: procimage's schedule object whose schedule_wakeup the verifier refuses (an
 * out-of-bounds stack read, as in bad.bpf.c). Installed in place of build/bpf/schedule.bpf.o, it is
 * what a user meets when a kernel's verifier rejects one of procimage's programs. The real program
 * stays, renamed: a trace loads only the programs its policy uses (-S uses schedule_wakeup).
 */
#define schedule_wakeup schedule_wakeup_real
#include "../../bpf/schedule.bpf.c"
#undef schedule_wakeup

/* not BPF_PROG: its helper ____schedule_wakeup (a pasted name, which the #define did not reach) is the real one's */
SEC("tp_btf/sched_wakeup")
int schedule_wakeup(unsigned long long *ctx)
{
	volatile char buf[8] = {};
	volatile int i = 64;

	return buf[i];
}
