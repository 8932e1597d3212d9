// The series bound under a fork storm (fold.ts): thousands of short-lived processes and threads, a few
// long-lived busy ones; scraped after each burst. The records are made up (no kernel involved).
import { describe, expect, it } from 'vitest';
import type { ProcRecord, SchedRecord, SyscallStatRecord } from '../../collect/records.js';
import { procimageMetrics } from './metrics.js';
import { MetricsState, type MetricsOptions } from './state.js';

const fork = (pid: number, tgid: number, thread: boolean): ProcRecord =>
  ({ type: 'fork', ts_ns: 1, pid, tgid, comm: 'w', cpu: 0, child_pid: 0, child_tgid: 0, thread, child_start_ts_ns: 0 }) as ProcRecord;
const offcpu = (pid: number, tgid: number, ns: number, state: string): ProcRecord =>
  ({ type: 'offcpu', ts_ns: 1, pid, tgid, comm: 'w', cpu: 0, state, duration_ns: ns, waker: null }) as unknown as ProcRecord;
const exit = (pid: number): ProcRecord =>
  ({ type: 'exit', ts_ns: 1, pid, tgid: pid, comm: 'w', cpu: 0, exit_code: 0, signal: null, signal_name: null, process_exit: true }) as unknown as ProcRecord;
const syscall = (pid: number, tgid: number, name: string, count: number): SyscallStatRecord => ({
  type: 'syscall_stat', ts_ns: 1, pid, tgid, comm: 'w', scope: 'thread', syscall: name, nr: 0, count, errors: 0, errno: null,
  errno_count: 0, total_ns: 1000 * count, avg_ns: 1000, max_ns: 2000, hist_log2_ns: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count],
} as SyscallStatRecord);
const sched = (pid: number, tgid: number, count: number): SchedRecord => ({
  type: 'sched', ts_ns: 1, pid, tgid, comm: 'w', scope: 'thread', cpu: null, count, total_ns: 1000 * count, avg_ns: 1000,
  min_ns: 1, max_ns: 5000 + pid, hist_log2_ns: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count],
});

/** Fixed series beside the targets' own: "(other)" with every label value here, and the rest (docs/metrics.md). */
const COUNTERS = new Set(['counter', 'histogram']);

interface Run {
  /** Series served at each scrape, by metric name and labels. */
  scrapes: Array<Map<string, number>>;
  /** What every target did, as written (keytime) or as the kernel's entries say (sched, syscalls). */
  truth: { forks: number; offcpuNs: number; calls: number; delays: number };
  ownSeries: number[];
  /** Targets the model holds after each scrape. */
  model: number[];
}

/**
 * `rounds` scrapes one second apart; before each, `burst` processes of 3 threads start, do a little
 * and end (the kernel keeps their syscall entries, as it does until deactivation), and `busy`
 * long-lived processes do a lot (`shuffle`: by turns, so that the top changes).
 */
function storm(o: Partial<MetricsOptions> & { rounds: number; burst: number; busy: number; shuffle: boolean }): Run {
  let now = 0;
  const living = new Set<number>();
  const m = new MetricsState({ perThread: false, maxTargets: 100_000, graceSec: 0, maxItems: 2000, ...o }, () => now,
    (pid, tgid, thread) => living.has(thread ? pid : tgid));
  const metrics = procimageMetrics(m, { snapshot: () => [], active: true, categories: [], programStats: () => [] }, false);
  const kernel = new Map<string, SyscallStatRecord | SchedRecord>(); // cumulative, per thread
  const truth = { forks: 0, offcpuNs: 0, calls: 0, delays: 0 };
  const bump = (pid: number, tgid: number, calls: number) => {
    const k = `${pid}/read`, s = kernel.get(k) as SyscallStatRecord | undefined;
    kernel.set(k, syscall(pid, tgid, 'read', (s?.count ?? 0) + calls));
    const d = kernel.get(`${pid}/sched`) as SchedRecord | undefined;
    kernel.set(`${pid}/sched`, sched(pid, tgid, (d?.count ?? 0) + calls));
    truth.calls += calls;
    truth.delays += calls;
  };
  const busy = Array.from({ length: o.busy }, (_, i) => 10 + i);
  for (const p of busy) living.add(p);
  let next = 1000;
  const run: Run = { scrapes: [], truth, ownSeries: [], model: [] };
  for (let round = 0; round < o.rounds; round++) {
    for (const [i, p] of busy.entries()) {
      // the busy ones by far the largest, each its turn at the top when shuffled
      const n = o.shuffle ? 1000 * (1 + ((i + round) % busy.length)) : 1000 * (busy.length - i);
      m.write(offcpu(p, p, n, 'S'));
      for (let k = 0; k < 5; k++) m.write(fork(p, p, true)); // more than a short-lived process: in the top from the start
      truth.offcpuNs += n;
      truth.forks += 5;
      bump(p, p, n);
    }
    for (let b = 0; b < o.burst; b++) {
      const tgid = next;
      next += 4;
      m.write(fork(tgid, tgid, false));
      truth.forks++;
      for (let t = 0; t < 3; t++) {
        const pid = tgid + t;
        if (t) { m.write(fork(tgid, tgid, true)); truth.forks++; }
        m.write(offcpu(pid, tgid, 1 + t, t % 2 ? 'R' : 'S'));
        truth.offcpuNs += 1 + t;
        bump(pid, tgid, 1 + (b % 7));
        // each burst's syscalls by name: more names than "(other)" keeps
        const k = `${pid}/sc${b % 80}`;
        kernel.set(k, syscall(pid, tgid, `sc${b % 80}`, 1));
        truth.calls++;
      }
      // half end with an exit record, the others are found gone from /proc
      if (b % 2) m.write(exit(tgid));
    }
    now += 1000;
    // a scrape, as the exporter makes it
    m.prune();
    m.refresh([...kernel.values()]);
    metrics.prepare();
    const served = new Map<string, number>();
    for (const x of metrics.metrics) {
      for (const v of x.get().values) served.set(`${v.metricName}${JSON.stringify(v.labels)}\0${x.type}`, v.value);
    }
    run.scrapes.push(served);
    run.ownSeries.push(metrics.folder.ownSeries);
    run.model.push(m.targets.size);
  }
  return run;
}

const sum = (s: Map<string, number>, name: string) => [...s].filter(([k]) => k.startsWith(`${name}{`)).reduce((a, [, v]) => a + v, 0);

describe('the series under a fork storm', () => {
  it('stay within the ceiling, the largest targets shown, the rest adding up exactly under "(other)"', () => {
    const run = storm({ rounds: 30, burst: 100, busy: 5, shuffle: false, top: 5, maxSeries: 1000 });
    for (const [i, s] of run.scrapes.entries()) {
      expect(run.ownSeries[i]).toBeLessThanOrEqual(1000);
      // the own series of 5 targets, and "(other)" with 64 syscalls and "(other)" (docs/metrics.md)
      expect(s.size).toBeLessThan(1000 + 87 + 552 + 32 * 64 + 319 + 575);
    }
    const last = run.scrapes.at(-1)!;
    // the busy ones have their own series; 3,000 threads of 1,000 processes fold into "(other)"
    for (let p = 10; p < 15; p++) expect(last.has(`procimage_forks_total{"tgid":${p},"comm":"w","kind":"thread"}\0counter`)).toBe(true);
    expect([...last.keys()].filter(k => k.startsWith('procimage_forks_total{')).length).toBe(5 * 2 + 2);
    // every fork, interval, syscall and delay of every target, ended or not, in the series' sum
    expect(sum(last, 'procimage_forks_total')).toBe(run.truth.forks);
    expect(sum(last, 'procimage_offcpu_seconds_total')).toBeCloseTo(run.truth.offcpuNs / 1e9, 9);
    expect(sum(last, 'procimage_syscalls_total')).toBe(run.truth.calls);
    expect(sum(last, 'procimage_sched_delay_seconds_count')).toBe(run.truth.delays);
    // each short-lived process (and a busy one whose largest delay is not among the largest)
    expect(last.get('procimage_metrics_folded_targets_total{}\0counter')).toBeGreaterThanOrEqual(3000);
  });

  it('let the ended targets without series of their own go at the next scrape, grace or not: the model stays small', () => {
    const run = storm({ rounds: 20, burst: 100, busy: 5, shuffle: false, top: 5, maxSeries: 1000, graceSec: 120 });
    // the busy 5, the last burst (ended, read once) and the few ended ones shown in some metric (the
    // grace period is theirs): 105-118 here, where 2,000 ended processes were kept before
    for (const n of run.model) expect(n).toBeLessThanOrEqual(5 + 100 + 20);
    const last = run.scrapes.at(-1)!;
    expect(sum(last, 'procimage_forks_total')).toBe(run.truth.forks);
    expect(sum(last, 'procimage_syscalls_total')).toBe(run.truth.calls);
  });

  it.each([false, true])('never make a counter go back, whatever moves in and out of the top (threads: %s)', perThread => {
    // a top that changes each scrape, a ceiling that lowers it, and too many targets for the model
    const run = storm({ rounds: 20, burst: 100, busy: 8, shuffle: true, top: 4, maxSeries: 300, perThread, maxTargets: 150 });
    let checked = 0;
    for (let i = 1; i < run.scrapes.length; i++) {
      for (const [k, v] of run.scrapes[i]) {
        if (!COUNTERS.has(k.split('\0')[1])) continue;
        const was = run.scrapes[i - 1].get(k);
        if (was === undefined) continue;
        expect(v, k).toBeGreaterThanOrEqual(was);
        checked++;
      }
      expect(run.ownSeries[i]).toBeLessThanOrEqual(300);
      expect(run.ownSeries[i]).toBeGreaterThan(0);
    }
    expect(checked).toBeGreaterThan(1000);
  });
});

describe('per thread (--metrics-threads), folded', () => {
  it('keeps the processes\' own resource series apart from their threads\' in "(other)": neither counted twice', () => {
    const m = new MetricsState({ perThread: true, maxTargets: 1000, graceSec: 0, maxItems: 100, top: 1, maxSeries: 1000 }, () => 0, () => true);
    const metrics = procimageMetrics(m, { snapshot: () => [], active: true, categories: [], programStats: () => [] }, false);
    const res = (scope: 'process' | 'thread', pid: number, tgid: number, user: number) => ({
      type: 'resource', scope, ts_ns: 1, pid, tgid, comm: 'w', exited: false, total_user_ns: user * 1e9, total_system_ns: 0,
      total_read_bytes: 0, total_write_bytes: 0, total_io_read_bytes: 0, total_io_write_bytes: 0, total_minor_faults: 0,
      total_major_faults: 0, total_voluntary_switches: 0, total_involuntary_switches: 0, rss_anon_bytes: 1, rss_file_bytes: 0,
      rss_shmem_bytes: 0, vm_bytes: 1, swap_bytes: 0,
    }) as unknown as ProcRecord;
    // 5 processes of 2 threads: the process's CPU time is its threads' (and theirs that ended: +1)
    for (let p = 0; p < 5; p++) {
      const tgid = 100 + 10 * p;
      m.write(res('thread', tgid, tgid, p + 1));
      m.write(res('thread', tgid + 1, tgid, p + 1));
      m.write(res('process', tgid, tgid, 2 * (p + 1) + 1));
    }
    metrics.prepare();
    const cpu = metrics.metrics.find(x => x.name === 'procimage_cpu_seconds_total')!.get().values.filter(v => v.labels.mode === 'user');
    const of = (f: (l: Record<string, unknown>) => boolean) => cpu.filter(v => f(v.labels)).reduce((a, v) => a + v.value, 0);
    // the largest process and the largest thread have their own; the rest add up, processes and threads apart
    expect(cpu.map(v => JSON.stringify(v.labels)).sort()).toEqual([
      '{"pid":"","tgid":"","comm":"(other)","mode":"user"}', '{"pid":140,"tgid":140,"comm":"w","mode":"user"}',
      '{"tgid":"","comm":"(other)","mode":"user"}', '{"tgid":140,"comm":"w","mode":"user"}']);
    expect(of(l => !('pid' in l))).toBe(3 + 5 + 7 + 9 + 11); // every process once
    expect(of(l => 'pid' in l)).toBe(2 * (1 + 2 + 3 + 4 + 5)); // every thread once
  });
});
