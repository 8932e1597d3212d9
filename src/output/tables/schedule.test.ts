import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ExitRecord, SchedRecord } from '../../collect/records.js';
import { TABLES } from '../tables.js';
import { TextSink } from '../text.js';
import './schedule.js';

/** A histogram with counts at the given log2 slots. */
function hist(slots: Record<number, number>): number[] {
  const top = Math.max(...Object.keys(slots).map(Number));
  return Array.from({ length: top + 1 }, (_, i) => slots[i] ?? 0);
}

const sched = (o: Partial<SchedRecord>): SchedRecord => ({
  type: 'sched', ts_ns: 1_500_000_000, pid: 42, tgid: 40, comm: 'worker', cpu: null, scope: 'thread', count: 100,
  total_ns: 1_000_000, avg_ns: 10_000, min_ns: 1_500, max_ns: 900_000,
  hist_log2_ns: hist({ 10: 1, 12: 49, 13: 49, 19: 1 }), ...o, // 1.0-2 µs, 4-8, 8-16 µs, 512 µs-1 ms
});

describe('sched table', () => {
  it('has a row per target thread (and idle task), then the system, with the histogram quantiles', () => {
    const lines = TABLES.sched!([
      sched({}),
      sched({ pid: 0, tgid: 0, comm: 'swapper/1', cpu: 1, count: 3, total_ns: 300, avg_ns: 100, min_ns: 50, max_ns: 150,
        hist_log2_ns: hist({ 5: 1, 6: 1, 7: 1 }) }),
      sched({ scope: 'system', pid: 0, tgid: 0, comm: '', count: 5000, total_ns: 50_000_000, avg_ns: 10_000, min_ns: 100,
        max_ns: 136_000, hist_log2_ns: hist({ 8: 2500, 12: 2400, 17: 100 }) }),
    ], 0);
    expect(lines[0]).toMatch(/^ *PID +TGID +COMM +DELAYS +AVG +MIN +P50 +P99 +MAX$/);
    // p50: the 50th of 100 in [4096, 8192) ns; p99: the 99th in [8192, 16384) ns
    expect(lines[1]).toMatch(/^ *42 +40 +worker +100 +10\.000 µs +1\.500 µs +< 8\.192 µs +< 16\.384 µs +900\.000 µs$/);
    // the idle task of CPU 1: its p99's slot [128, 256) ends above its max, 150 ns
    expect(lines[2]).toMatch(/^ *idle\/1 +0 +swapper\/1 +3 +100 ns +50 ns +< 128 ns +≤ 150 ns +150 ns$/);
    // the system: no tgid, no comm; p99 in [131, 262) µs, above its max 136 µs
    expect(lines[3]).toMatch(/^ *system +5000 +10\.000 µs +100 ns +< 512 ns +≤ 136\.000 µs +136\.000 µs$/);
    expect(lines).toHaveLength(4);
  });

  it('shows - for a thread that had no delay yet', () => {
    const line = TABLES.sched!([sched({ count: 0, total_ns: 0, avg_ns: null, min_ns: null, max_ns: null, hist_log2_ns: [] })], 0)[1];
    expect(line).toMatch(/^ *42 +40 +worker +0 +- +- +- +- +-$/);
  });
});

describe('text output of sched records', () => {
  it('prints a new table at each interval, with that interval\'s figures only, between the event lines', () => {
    let out = '';
    const w = new Writable({ write(c, _e, cb) { out += c; cb(); } });
    const t0 = 1_000_000_000;
    const sink = new TextSink(w, t0);
    sink.write(sched({ ts_ns: t0 + 1e9, count: 10 }));
    sink.write(sched({ ts_ns: t0 + 1e9, scope: 'system', pid: 0, tgid: 0, comm: '', count: 500 }));
    sink.flush();
    const exit: ExitRecord = { type: 'exit', ts_ns: t0 + 1.5e9, pid: 42, tgid: 40, comm: 'worker', cpu: 0, exit_code: 0,
      signal: null, core_dumped: false, signal_name: null, process_exit: false, ppid: 1, start_ts_ns: t0, lifetime_ns: 1.5e9,
      process_start_ts_ns: t0, oncpu_ns: 1e6 };
    sink.write(exit);
    sink.write(sched({ ts_ns: t0 + 2e9, count: 25 }));
    sink.write(sched({ ts_ns: t0 + 2e9, scope: 'system', pid: 0, tgid: 0, comm: '', count: 900 }));
    sink.flush();
    const lines = out.trimEnd().split('\n');
    const tables = lines.flatMap((l, i) => (l.startsWith('── sched at ') ? [i] : []));
    expect(tables).toHaveLength(2);
    expect(lines[tables[0]]).toMatch(/^── sched at 1\.000000000 s ─+$/);
    expect(lines[tables[1]]).toMatch(/^── sched at 2\.000000000 s ─+$/);
    const rows = (i: number) => lines.slice(tables[i] + 2, tables[i] + 4);
    expect(rows(0)[0]).toMatch(/^ *42 +40 +worker +10 /);
    expect(rows(0)[1]).toMatch(/^ *system +500 /);
    expect(rows(1)[0]).toMatch(/^ *42 +40 +worker +25 /);
    expect(rows(1)[1]).toMatch(/^ *system +900 /);
    // the exit between them, under the event header again
    const exitAt = lines.findIndex(l => / exit +exit code 0/.test(l));
    expect(exitAt).toBeGreaterThan(tables[0]);
    expect(exitAt).toBeLessThan(tables[1]);
    expect(lines[exitAt - 1]).toMatch(/^TIME\(s\) +PID +TGID +COMM +EVENT +DETAILS$/);
    expect(lines.filter(l => / worker +\d+ /.test(l))).toHaveLength(2); // no row twice
  });
});
