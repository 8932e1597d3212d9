// SPDX-License-Identifier: GPL-2.0
/*
 * schedule: scheduling delay, from wakeup (or preemption) until the task runs again. The wakeup
 * hooks are here; the sched_switch side runs in keytime's one sched_switch program (sched.bpf.h).
 * Every task's delay counts toward the system's figures, as runqlat's does; a target's also toward
 * its own.
 */
#include "sched.bpf.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline int on_wakeup(struct task_struct *t)
{
	const struct pi_policy *p = pi_active_policy();

	if (p && (p->categories & PI_CAT_SCHEDULE))
		pi_sched_woken(p, t);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(schedule_wakeup, struct task_struct *t)
{
	return on_wakeup(t);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(schedule_wakeup_new, struct task_struct *t)
{
	return on_wakeup(t);
}
