// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's own account of what a BPF program costs: run time and run count (bpf_prog_info,
 * kept while BPF_ENABLE_STATS is held), for procimage's self-cost metrics. In C because
 * struct bpf_prog_info is long and grows with every kernel: the uapi header knows its layout.
 */
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>

/* Writes run_time_ns and run_cnt of the program behind fd; returns 0 or -errno. */
int pi_prog_stats(int fd, uint64_t *run_time_ns, uint64_t *run_cnt)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int r = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (r)
		return r;
	*run_time_ns = info.run_time_ns;
	*run_cnt = info.run_cnt;
	return 0;
}

/* Turns run-time statistics on for as long as the returned fd is open; -errno on failure. */
int pi_enable_stats(void)
{
	return bpf_enable_stats(BPF_STATS_RUN_TIME);
}
