// SPDX-License-Identifier: GPL-2.0
/*
 * bpf(BPF_LINK_CREATE) for attach types libbpf 1.1 does not know (uprobe_multi), callable on a libuv
 * pool thread: the result carries the errno itself (-errno), where koffi.errno() is the main
 * thread's. Creating a uprobe link waits for an RCU grace period in the kernel (docs/performance.md),
 * which the daemon spends attaching everything else.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

/* attr: a union bpf_attr of size bytes, filled for BPF_LINK_CREATE; returns the link fd or -errno. */
int pi_link_create(const void *attr, unsigned int size)
{
	long fd = syscall(__NR_bpf, BPF_LINK_CREATE, attr, size);
	return fd < 0 ? -errno : (int)fd;
}
