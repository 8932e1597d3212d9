// SPDX-License-Identifier: GPL-2.0
/*
 * The maps every object shares (named pi_*, bpf/common.bpf.h and bpf/sched.bpf.h), declared alone.
 * The session loads this object first, with none of its other maps (src/model/session.ts,
 * createShared), to make them; every category's object then reuses their fds, so that all can load
 * side by side. With no program and no CO-RE relocation, libbpf makes them without parsing the
 * kernel's BTF (a keytime object loaded without programs for the same end took 15-25 ms).
 */
#include "common.bpf.h"
#include "sched.bpf.h"

char LICENSE[] SEC("license") = "GPL";
