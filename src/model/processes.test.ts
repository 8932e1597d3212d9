import { describe, expect, it } from 'vitest';
import type { ExitRecord } from '../collect/records.js';
import { ProcessTable } from './processes.js';

const exit = (tgid: number): ExitRecord => ({
  type: 'exit', ts_ns: 10, pid: tgid, tgid, comm: 'x', cpu: 0, exit_code: 0, signal: null, signal_name: null,
  core_dumped: false, process_exit: true, ppid: 1, start_ts_ns: 0, lifetime_ns: 10, process_start_ts_ns: 0, oncpu_ns: 1,
});

describe('ProcessTable', () => {
  it('keeps a bounded number of processes and counts the rest once each', () => {
    const t = new ProcessTable(3);
    for (let i = 1; i <= 10; i++) { t.observe(exit(i)); t.observe(exit(i)); }
    expect(t.all().map(p => p.tgid)).toEqual([1, 2, 3]);
    expect(t.untracked).toBe(7);
    expect(t.all()[0]).toMatchObject({ exit_code: 0, lifetime_ns: 10, threads: 2 });
  });
});
