/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keytime's migrations: each time a target thread is moved to another CPU (set_task_cpu(), from a
 * wake-up on another CPU, load balancing, or an affinity change). Rare beside switches and wake-ups,
 * and the test for non-targets is the usual two loads and a bitmap lookup.
 */
#ifndef MIGRATE_BPF_H
#define MIGRATE_BPF_H

#include "common.bpf.h"

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(keytime_migrate, struct task_struct *t, int dest_cpu)
{
	const struct pi_policy *p = pi_active_policy();

	if (!p || !(pi_cats(p) & PI_CAT_KEYTIME))
		return 0;
	if (!pi_is_target(p, t->pid, t->tgid, bpf_get_smp_processor_id()))
		return 0;
	struct pi_migrate_event *e = pi_reserve(sizeof(*e), PI_EV_MIGRATE);
	if (!e)
		return 0;
	pi_fill_hdr(&e->hdr, PI_EV_MIGRATE, t);
	e->from_cpu = t->thread_info.cpu; /* task_cpu(t): set_task_cpu() changes it after the tracepoint */
	e->to_cpu = dest_cpu;
	pi_submit(e, sizeof(*e), PI_WAKE_LATER);
	return 0;
}

#endif /* MIGRATE_BPF_H */
