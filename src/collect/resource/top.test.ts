import { describe, expect, it } from 'vitest';
import type { ResourceRecord } from '../records.js';
import { topN } from './top.js';

const rec = (pid: number, o: Partial<ResourceRecord>): ResourceRecord => ({
  type: 'resource', ts_ns: 0, pid, tgid: pid, comm: `p${pid}`, scope: 'process', start_ts_ns: 0, exited: false,
  interval_ns: 1e9, threads: 1, top: null, cpu_pct: 0, user_pct: 0, system_pct: 0, cpu_ns: 0, user_ns: 0, system_ns: 0,
  rss_bytes: 0, rss_anon_bytes: 0, rss_file_bytes: 0, rss_shmem_bytes: 0, swap_bytes: 0, vm_bytes: 0, rss_peak_bytes: 0,
  read_bytes: 0, write_bytes: 0, cancelled_write_bytes: 0, io_read_bytes: 0, io_write_bytes: 0, read_syscalls: 0,
  write_syscalls: 0, minor_faults: 0, major_faults: 0, voluntary_switches: 0, involuntary_switches: 0,
  total_cpu_ns: 0, total_user_ns: 0, total_system_ns: 0, total_read_bytes: 0, total_write_bytes: 0,
  total_cancelled_write_bytes: 0, total_io_read_bytes: 0, total_io_write_bytes: 0, total_read_syscalls: 0,
  total_write_syscalls: 0, total_minor_faults: 0, total_major_faults: 0, total_voluntary_switches: 0,
  total_involuntary_switches: 0, ...o,
});

describe('topN', () => {
  const recs = [
    rec(1, { cpu_ns: 9e8 }), rec(2, { cpu_ns: 5e8, rss_bytes: 1e6 }), rec(3, { rss_bytes: 9e9 }),
    rec(4, { write_bytes: 1e6 }), rec(5, { minor_faults: 10 }), rec(6, {}), rec(7, { cpu_ns: 1e8 }),
  ];

  it('keeps the union of the top n of each ranking, names the rankings, CPU first', () => {
    const top = topN(recs, 1);
    expect(top.map(r => [r.pid, r.top])).toEqual([[1, ['cpu']], [3, ['memory']], [4, ['storage']], [5, ['faults']]]);
  });

  it('never ranks a zero', () => {
    expect(topN(recs, 100).map(r => r.pid)).not.toContain(6);
    expect(topN(recs, 2).find(r => r.pid === 2)!.top).toEqual(['cpu', 'memory']);
  });
});
