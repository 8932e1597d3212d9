// SPDX-License-Identifier: GPL-2.0
/* Test fixture: a program the verifier must refuse (an out-of-bounds stack read), for VerifierError. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp/sys_enter")
int refused(void *ctx)
{
	volatile char buf[8] = {};
	volatile int i = 64;
	return buf[i];
}
