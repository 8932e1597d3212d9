import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOST_REASONS } from '../../collect/lost.js';
import { kindOf } from '../../collect/lockstat.js';
import { pi_lock_kind } from '../../collect/layout.js';
import { syscallName } from '../../collect/syscall-names.js';
import { taskState } from '../../collect/taskstate.js';
import { ROOT } from '../../sys/paths.js';
import type { ExitRecord, LockRecord, OffCpuRecord, ProcRecord, ResourceRecord, SchedRecord, SyscallStatRecord, Waker } from '../../collect/records.js';
import { parseListen } from '../http.js';
import { endedStat } from './liveness.js';
import { LOG2_BOUNDS_S, log2HistogramSamples } from './metric.js';
import { procimageMetrics } from './metrics.js';
import { MAX_CGROUPS, MetricsState, WAKER_LABELS, wakerComm, type MetricsOptions } from './state.js';

/** Every task alive, whatever /proc says: these records are made up. */
const living = () => true;
const opts = (o: Partial<MetricsOptions> = {}): MetricsOptions => ({ perThread: false, maxTargets: 1000, graceSec: 10, maxItems: 100, ...o });

const exit = (pid: number, code: number | null, signal: string | null): ExitRecord => ({
  type: 'exit', ts_ns: 1, pid, tgid: pid, comm: 'w', cpu: 0, exit_code: code, signal: signal ? 9 : null, signal_name: signal,
  core_dumped: false, process_exit: true, ppid: 1, start_ts_ns: 0, lifetime_ns: 1, process_start_ts_ns: 0, oncpu_ns: 1,
});
const off = (pid: number, tgid: number, ns: number, state = 'S'): OffCpuRecord => ({
  type: 'offcpu', ts_ns: 1, pid, tgid, comm: 'w', cpu: 0, cpu_in: 0, start_ts_ns: 0, end_ts_ns: ns, duration_ns: ns,
  state, state_name: '', kstack: [], ustack: [], ustack_locs: [], ustack_mode: 'none', ustack_truncated: false, began_before_activation: false, ongoing: false, switch_in_inferred: false,
});
const waker = (comm: string | null, context: Waker['context']): Waker => ({
  pid: 1, tgid: 1, comm, context, target: false, wake_ts_ns: 0, wake_delay_ns: 0, kstack: [], ustack: [], ustack_locs: [],
  ustack_mode: 'none', ustack_truncated: false,
});
const sched = (pid: number, tgid: number, slots: number[], scope: 'thread' | 'system' = 'thread'): SchedRecord => ({
  type: 'sched', ts_ns: 1, pid, tgid, comm: 'w', scope, cpu: null, count: slots.reduce((a, b) => a + b, 0), total_ns: 1000,
  avg_ns: 1, min_ns: 1, max_ns: 5000, hist_log2_ns: slots,
});

describe('log2 histograms as Prometheus buckets', () => {
  it('are cumulative, fold the slots below 1 µs into the first bucket, and end with +Inf = count', () => {
    const slots = [1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 0, 4]; // 1 at ~1 ns, 2 at 512 ns, 3 at ~1 µs, 4 at ~4 µs
    const s = log2HistogramSamples({ tgid: 7 }, slots, 10, 123456789);
    const buckets = s.filter(x => x.suffix === '_bucket');
    expect(buckets[0]).toEqual({ labels: { tgid: 7, le: '0.000001024' }, value: 3, suffix: '_bucket' });
    expect(buckets[1].value).toBe(6);
    expect(buckets[2].value).toBe(6);
    expect(buckets[3].value).toBe(10);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    expect(buckets.at(-1)).toEqual({ labels: { tgid: 7, le: '+Inf' }, value: 10, suffix: '_bucket' });
    expect(buckets).toHaveLength(LOG2_BOUNDS_S.length + 1);
    expect(s.find(x => x.suffix === '_sum')!.value).toBeCloseTo(0.123456789, 12);
    expect(s.find(x => x.suffix === '_count')!.value).toBe(10);
  });
});

describe('MetricsState', () => {
  it('counts per process, exits by code and signal, off-CPU time by state', () => {
    const m = new MetricsState();
    m.write(off(11, 10, 2e9));
    m.write(off(12, 10, 1e9));
    m.write(off(12, 10, 5e8, 'R'));
    m.write(exit(10, 3, null));
    m.write(exit(20, null, 'SIGKILL'));
    const t = m.targets.get('10')!;
    expect(t.labels).toEqual({ tgid: 10, comm: 'w' });
    expect(t.offcpu.get('S')).toEqual({ ns: 3e9, n: 2 });
    expect(t.offcpu.get('R')).toEqual({ ns: 5e8, n: 1 });
    expect([...t.exits.values()]).toEqual([{ code: '3', signal: '', n: 1 }]);
    expect([...m.targets.get('20')!.exits.values()]).toEqual([{ code: '', signal: 'SIGKILL', n: 1 }]);
    expect(m.lost.get('ring_full')).toBe(0);
  });

  it('takes no target from a module record (files for tools that symbolize later)', () => {
    const m = new MetricsState();
    m.write({ type: 'module', ts_ns: 1, pid: 31, tgid: 30, comm: 'w', module_id: 1, path: '/usr/lib/libc.so.6', build_id: 'ab' });
    expect(m.targets.size).toBe(0);
  });

  it('labels threads only when asked, and sums a process\'s threads\' delays otherwise', () => {
    const procs = new MetricsState();
    procs.refresh([sched(11, 10, [0, 2]), sched(12, 10, [1, 1]), sched(0, 0, [5], 'system')]);
    expect(procs.targets.get('10')!.sched).toMatchObject({ slots: [1, 3], count: 4 });
    expect(procs.system!.count).toBe(5);
    const threads = new MetricsState({ perThread: true, maxTargets: 10, graceSec: 1, maxItems: 100 });
    threads.refresh([sched(11, 10, [0, 2]), sched(12, 10, [1, 1])]);
    expect(threads.targets.get('12')!.labels).toEqual({ pid: 12, tgid: 10, comm: 'w' });
    // each scrape replaces, it does not add
    procs.refresh([sched(11, 10, [0, 2]), sched(12, 10, [1, 1])]);
    expect(procs.targets.get('10')!.sched!.count).toBe(4);
  });

  it('with a cgroup target: a cgroup label on each target, fixed at first sight, and each cgroup\'s delay, at most MAX_CGROUPS', async () => {
    const m = new MetricsState(opts(), Date.now, living);
    const cg = (r: SchedRecord, cgroup: string): SchedRecord => ({ ...r, cgroup });
    const cgroupRow = (cgroup: string, slots: number[]): SchedRecord => ({ ...sched(0, 0, slots), scope: 'cgroup', comm: '', cgroup });
    m.refresh([cg(sched(11, 10, [0, 2]), '/a'), cg(sched(21, 20, [1]), '/a/b'), cgroupRow('/a', [0, 2]), cgroupRow('/a/b', [1]),
      sched(0, 0, [5], 'system')]);
    expect(m.targets.get('10')!.labels).toEqual({ tgid: 10, comm: 'w', cgroup: '/a' });
    expect(m.targets.get('20')!.labels).toEqual({ tgid: 20, comm: 'w', cgroup: '/a/b' });
    expect([...m.cgroups.keys()]).toEqual(['/a', '/a/b']);
    expect(m.cgroups.get('/a/b')).toMatchObject({ count: 1 });
    // moved: its label stays (one label set per target), its cgroup's figures follow the kernel's
    m.refresh([cg(sched(21, 20, [2]), '/a'), cgroupRow('/a', [0, 2])]);
    expect(m.targets.get('20')!.labels.cgroup).toBe('/a/b');
    expect(new Set((await served(m, 'procimage_cgroup_sched_delay_seconds')).map(l => JSON.parse(l.split('} ')[0] + '}').cgroup)))
      .toEqual(new Set(['/a']));
    // bounded
    const many = Array.from({ length: MAX_CGROUPS + 5 }, (_, i) => cgroupRow(`/c${String(i).padStart(4, '0')}`, [1]));
    m.refresh(many);
    expect(m.cgroups.size).toBe(MAX_CGROUPS + 1);
    expect(m.cgroups.get('(other)')).toMatchObject({ count: 5 });
  });

  it('keeps what a process\'s ended threads waited: the kernel drops their entries, the counters do not go back', () => {
    const m = new MetricsState(opts(), Date.now, living);
    m.refresh([sched(11, 10, [0, 2]), sched(12, 10, [1, 1]), sched(0, 0, [5], 'system')]);
    m.refresh([sched(11, 10, [0, 3]), sched(0, 0, [6], 'system')]); // 12 ended: its entry went after its last report
    expect(m.targets.get('10')!.sched).toMatchObject({ slots: [1, 4], count: 5 });
    m.refresh([sched(11, 10, [0, 4]), sched(13, 10, [2]), sched(0, 0, [9], 'system')]);
    expect(m.targets.get('10')!.sched).toMatchObject({ slots: [3, 5], count: 8 });
    // no entry of it at all while it lives: collection stopped, its figures go
    m.refresh([sched(0, 0, [9], 'system')]);
    expect(m.targets.get('10')!.sched).toBeUndefined();
  });

  it('bounds the series: targets past the limit add up under "(other)"; ended ones go after the grace period', () => {
    let now = 0;
    const m = new MetricsState({ perThread: false, maxTargets: 2, graceSec: 10, maxItems: 100 }, () => now, living);
    for (const pid of [1, 2, 3, 4]) m.write(off(pid, pid, 1e9));
    expect([...m.targets.keys()]).toEqual(['1', '2', '(other)']);
    expect(m.targets.get('(other)')!.offcpu.get('S')!.ns).toBe(2e9);
    m.write(exit(1, 0, null));
    m.write(exit(3, 0, null)); // one of those under "(other)": not its end
    m.refresh([]); // a scrape after its end: its last figures are read (an end no scrape read is kept)
    now = 5_000;
    m.prune();
    expect(m.targets.has('1')).toBe(true);
    now = 10_001;
    m.prune();
    expect(m.targets.has('1')).toBe(false);
    expect(m.targets.has('2')).toBe(true);
    expect(m.targets.get('(other)')!.alive).toBe(true);
  });
});

describe('resource figures', () => {
  it('take a target\'s totals as they are, and add the system\'s up interval by interval, never from a scrape', () => {
    const m = new MetricsState();
    const proc = {
      type: 'resource', scope: 'process', ts_ns: 1, pid: 10, tgid: 10, comm: 'w', total_user_ns: 2e9, total_system_ns: 1e9,
      total_read_bytes: 4096, total_write_bytes: 0, total_io_read_bytes: 10, total_io_write_bytes: 20, total_minor_faults: 5,
      total_major_faults: 1, total_voluntary_switches: 7, total_involuntary_switches: 3, rss_anon_bytes: 100, rss_file_bytes: 50,
      rss_shmem_bytes: 0, vm_bytes: 1000, swap_bytes: 0,
    } as unknown as ProcRecord;
    m.write(proc);
    m.refresh([proc]); // a scrape repeats the last sample
    expect(m.targets.get('10')!.resource).toMatchObject({ userNs: 2e9, readBytes: 4096, rss: { anon: 100, file: 50, shmem: 0 } });
    const sys = { type: 'resource', scope: 'system', ts_ns: 1, pid: 0, tgid: 0, comm: '', user_ns: 1e9, system_ns: 5e8, read_bytes: 10,
      write_bytes: 20, minor_faults: 1, major_faults: 0, context_switches: 100, mem_used_bytes: 1, mem_available_bytes: 2, mem_total_bytes: 3 } as unknown as ProcRecord;
    m.write(sys);
    m.write(sys);
    m.refresh([sys]);
    expect(m.systemResource).toMatchObject({ userNs: 2e9, switches: 200, memTotal: 3 });
    // a thread's figures are not the process's (per-thread series are opt-in)
    m.write({ ...proc, scope: 'thread', pid: 11 } as ProcRecord);
    expect(m.targets.has('11')).toBe(false);
  });
});

/** A resource record: totals `user` ns of user time, `rss` bytes resident; the rest fixed. */
const res = (scope: 'process' | 'thread', pid: number, tgid: number, user: number, o: Partial<ResourceRecord> = {}): ProcRecord => ({
  type: 'resource', scope, ts_ns: 1, pid, tgid, comm: 'w', start_ts_ns: 0, exited: false, interval_ns: 1, threads: null, top: null,
  cpu_pct: 0, user_pct: 0, system_pct: 0, cpu_ns: 0, user_ns: 0, system_ns: 0, rss_bytes: 150, rss_anon_bytes: 100,
  rss_file_bytes: 50, rss_shmem_bytes: 0, swap_bytes: 0, vm_bytes: 1000, rss_peak_bytes: 150, read_bytes: 0, write_bytes: 0,
  cancelled_write_bytes: 0, io_read_bytes: 0, io_write_bytes: 0, read_syscalls: 0, write_syscalls: 0, minor_faults: 0,
  major_faults: 0, voluntary_switches: 0, involuntary_switches: 0, total_cpu_ns: user, total_user_ns: user, total_system_ns: 0,
  total_read_bytes: 0, total_write_bytes: 0, total_cancelled_write_bytes: 0, total_io_read_bytes: 0, total_io_write_bytes: 0,
  total_read_syscalls: 0, total_write_syscalls: 0, total_minor_faults: 1, total_major_faults: 0, total_voluntary_switches: 0,
  total_involuntary_switches: 0, ...o,
});

/** The served samples of one metric, as `labels value` lines (labels in their order). */
async function served(m: MetricsState, name: string): Promise<string[]> {
  const source = { snapshot: () => [], active: true, categories: [], programStats: () => [] };
  const all = procimageMetrics(m, source, false);
  all.prepare();
  const metric = all.metrics.find(x => x.name === name)!;
  return metric.get().values.map(v => `${JSON.stringify(v.labels)} ${v.value}`);
}

describe('resource figures of each kind of target', () => {
  it('-p TID and -c CPU: the one thread\'s record is its target\'s figures', async () => {
    const m = new MetricsState(opts(), Date.now, living);
    m.write(res('thread', 11, 10, 2e9)); // -p 11: the collector reports that thread alone
    m.write(res('thread', 0, 0, 5e9)); // -c 1: the CPU's idle task
    expect(m.targets.get('10')!.resource).toMatchObject({ userNs: 2e9 });
    expect(m.targets.get('0')!.resource).toMatchObject({ userNs: 5e9 });
    expect(await served(m, 'procimage_cpu_seconds_total')).toContain('{"tgid":10,"comm":"w","mode":"user"} 2');
  });

  it('-P: the process\'s record, not one of its threads\', whichever comes first', () => {
    const m = new MetricsState(opts(), Date.now, living);
    m.write(res('thread', 11, 10, 1e9));
    m.write(res('thread', 12, 10, 1e9, { exited: true })); // one thread's end is not the process's
    m.write(res('process', 10, 10, 3e9));
    m.write(res('thread', 11, 10, 2e9)); // the next sample
    expect(m.targets.get('10')).toMatchObject({ alive: true, resource: { userNs: 3e9 } });
    m.write(res('process', 10, 10, 4e9, { exited: true }));
    expect(m.targets.get('10')).toMatchObject({ alive: false, resource: { userNs: 4e9 } });
  });

  it('--metrics-threads: a series per thread (pid label) beside its process\'s (none), and the process\'s where only processes are reported', async () => {
    const m = new MetricsState(opts({ perThread: true }), Date.now, living);
    m.write(res('thread', 11, 10, 1e9));
    m.write(res('thread', 12, 10, 2e9));
    m.write(res('process', 10, 10, 4e9)); // -P: includes a thread that ended
    m.write(res('process', 20, 20, 7e9)); // every process: processes only
    const cpu = await served(m, 'procimage_cpu_seconds_total');
    expect(cpu.filter(l => l.includes('"mode":"user"')).sort()).toEqual([
      '{"pid":11,"tgid":10,"comm":"w","mode":"user"} 1', '{"pid":12,"tgid":10,"comm":"w","mode":"user"} 2',
      '{"tgid":10,"comm":"w","mode":"user"} 4', '{"tgid":20,"comm":"w","mode":"user"} 7',
    ]);
    // the process entries have resource series only: they are no threads
    expect((await served(m, 'procimage_target_up')).sort()).toEqual(['{"pid":11,"tgid":10,"comm":"w"} 1', '{"pid":12,"tgid":10,"comm":"w"} 1']);
    // -p TID with --metrics-threads: the thread's own series, and its target's without pid
    const p = new MetricsState(opts({ perThread: true }), Date.now, living);
    p.write(res('thread', 31, 30, 1e9));
    expect((await served(p, 'procimage_memory_virtual_bytes')).sort()).toEqual(['{"pid":31,"tgid":30,"comm":"w"} 1000', '{"tgid":30,"comm":"w"} 1000']);
  });

  it('"(other)" adds up the totals of the processes past the bound; an ended one\'s stay in, once', () => {
    const m = new MetricsState(opts({ maxTargets: 1 }), Date.now, living);
    m.write(res('process', 1, 1, 1e9));
    m.write(res('process', 2, 2, 2e9));
    m.write(res('process', 3, 3, 3e9));
    expect(m.targets.get('(other)')!.resource).toMatchObject({ userNs: 5e9, rss: { anon: 200 }, vmBytes: 2000 });
    m.write(res('process', 2, 2, 2.5e9, { exited: true }));
    const last = res('process', 3, 3, 4e9);
    m.refresh([res('process', 2, 2, 2.5e9, { exited: true }), last]); // a scrape repeats the last sample
    expect(m.targets.get('(other)')!.resource).toMatchObject({ userNs: 6.5e9, rss: { anon: 100 }, vmBytes: 1000 });
    m.write(res('thread', 3, 3, 9e9)); // threads never add up there
    expect(m.targets.get('(other)')!.resource!.userNs).toBe(6.5e9);
  });
});

describe('ends of targets', () => {
  it('are asked of /proc at each scrape, for every category: a gone target is dropped after the grace period', () => {
    let now = 0;
    const dead = new Set<string>(), asked: string[] = [];
    const m = new MetricsState(opts({ maxTargets: 3, graceSec: 10 }), () => now, (pid, tgid, thread) => {
      asked.push(`${pid}/${tgid}/${thread}`);
      return !dead.has(String(tgid));
    });
    m.refresh([sc(11, 10, 'read', 1, [1]), sc(20, 20, 'read', 1, [1]), sched(0, 0, [1], 'thread'), sc(40, 40, 'read', 1, [1])]);
    m.prune();
    // the idle tasks (pid 0) and "(other)" have no end
    expect(asked.sort()).toEqual(['10/10/false', '20/20/false']);
    dead.add('10');
    now = 1000;
    m.prune();
    expect(m.targets.get('10')).toMatchObject({ alive: false, endedAt: 1000 });
    now = 2000;
    m.write(exit(10, 0, null)); // its exit record, late (a loaded machine): the end stays when it was first known
    expect(m.targets.get('10')).toMatchObject({ alive: false, endedAt: 1000 });
    now = 10_999;
    m.prune();
    expect(m.targets.has('10')).toBe(true);
    m.refresh([sc(11, 10, 'read', 1, [1]), sc(20, 20, 'read', 1, [1])]); // a scrape after its end read its last figures
    now = 11_001;
    m.prune();
    m.refresh([sc(11, 10, 'read', 1, [1]), sc(20, 20, 'read', 1, [1])]); // the kernel keeps a dead thread's entries
    expect([...m.targets.keys()].sort()).toEqual(['(other)', '0', '20']);
  });

  it('per thread with --metrics-threads: a thread\'s end is its own, its process\'s entry ends with the process', () => {
    const gone = new Set<string>();
    const m = new MetricsState(opts({ perThread: true }), () => 5, (pid, tgid, thread) => !gone.has(thread ? `t${pid}` : `p${tgid}`));
    m.refresh([sc(11, 10, 'read', 1, [1]), sc(12, 10, 'read', 1, [1]), res('process', 10, 10, 1)]);
    gone.add('t12');
    m.prune();
    expect([...m.targets].map(([k, t]) => `${k}:${t.alive}`).sort()).toEqual(['11:true', '12:false', 'p10:true']);
    m.write({ ...exit(11, 0, null), tgid: 10 }); // the last thread: process_exit
    expect(m.targets.get('p10')!.alive).toBe(false);
  });

  it('a zombie has ended; a zombie leader with threads still running has not', () => {
    const stat = (state: string, threads: number) =>
      `42 (a (b) c) ${state} 1 42 42 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 ${threads} 0 12345 1000 100 18446744073709551615`;
    expect(endedStat(stat('S', 1), false)).toBe(false);
    expect(endedStat(stat('Z', 1), false)).toBe(true);
    expect(endedStat(stat('Z', 3), false)).toBe(false);
    expect(endedStat(stat('Z', 3), true)).toBe(true);
    expect(endedStat(stat('X', 1), false)).toBe(true);
    expect(endedStat(stat('R', 1), true)).toBe(false);
  });
});

const sc = (pid: number, tgid: number, syscall: string, count: number, slots: number[], comm = 'w'): SyscallStatRecord => ({
  type: 'syscall_stat', ts_ns: 1, pid, tgid, comm, scope: 'thread', syscall, nr: 0, count, errors: 1, errno: 'EAGAIN',
  errno_count: 1, total_ns: 1000 * count, avg_ns: 1000, max_ns: 2000, hist_log2_ns: slots,
});
const lk = (pid: number, tgid: number, addr: string, o: Partial<LockRecord> = {}): LockRecord => ({
  type: 'lock', ts_ns: 1, pid, tgid, comm: 'w', source: 'pthread', kind: 'mutex', mode: null, addr, symbol: null,
  acquisitions: 3, contended: 1, failed: 0, wait_total_ns: 3000, wait_min_ns: 100, wait_avg_ns: 1000, wait_max_ns: 2800,
  wait_hist_log2_ns: [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1], hold_count: 3, hold_total_ns: 9000, hold_min_ns: 1, hold_avg_ns: 3000,
  hold_max_ns: 5000, longest_holder_pid: pid, longest_hold_ns: 5000, ustack_addrs: null, ustack: null, ustack_locs: null, kstack_addrs: null,
  kstack: null, ...o,
});

describe('syscalls and locks', () => {
  it('sum a process\'s threads per syscall and per lock, and each scrape replaces the last', () => {
    const m = new MetricsState();
    const read = [sc(11, 10, 'read', 4, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]), sc(12, 10, 'read', 2, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
      { ...sc(0, 0, 'read', 50, []), scope: 'system' as const, hist_log2_ns: null }];
    const locks = [lk(11, 10, '0x10'), lk(12, 10, '0x10'), lk(12, 10, '0x20', { source: 'futex', kind: 'futex', acquisitions: null,
      hold_total_ns: null }), lk(12, 10, '0xffff1', { source: 'kernel', kind: 'rwsem', mode: 'write', symbol: 'mmap_lock' })];
    for (let scrape = 0; scrape < 2; scrape++) {
      m.refresh([...read, ...locks]);
      const t = m.targets.get('10')!;
      // 4 + 2 calls; the histogram counts the timed ones (3 + 2), its sum is every call's time
      expect(t.syscalls!.get('read')).toEqual({ calls: 6, errors: 2,
        latency: { slots: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2], count: 5, sumNs: 6000 } });
      expect(m.systemSyscalls!.get('read')).toBe(50);
      const byLock = Object.fromEntries([...t.locks!.values()].map(l => [l.labels.lock, l]));
      expect(byLock['0x10']).toMatchObject({ labels: { source: 'pthread', kind: 'mutex', mode: '' }, acquisitions: 6, contended: 2,
        holdNs: 18000, wait: { count: 6, sumNs: 6000 } });
      expect(byLock['0x10'].wait.slots).toEqual([0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 2]);
      expect(byLock['0x20']).toMatchObject({ labels: { source: 'futex' }, acquisitions: 0, holdNs: 0 });
      expect(byLock.mmap_lock.labels).toEqual({ source: 'kernel', kind: 'rwsem', mode: 'write', lock: 'mmap_lock' });
    }
    // collection stopped: a living target's figures go with it
    m.refresh([]);
    expect(m.targets.get('10')!.syscalls).toBeUndefined();
    expect(m.targets.get('10')!.locks).toBeUndefined();
    expect(m.systemSyscalls).toBeUndefined();
  });

  it('bound the items: past the budget a target\'s syscalls and locks add up under "(other)", freed when it goes', () => {
    let now = 0;
    const m = new MetricsState({ perThread: false, maxTargets: 10, graceSec: 1, maxItems: 3 }, () => now, living);
    m.refresh([sc(10, 10, 'read', 1, [1]), sc(10, 10, 'write', 1, [1]), sc(20, 20, 'read', 1, [1]), sc(20, 20, 'openat', 1, [1]),
      sc(20, 20, 'close', 1, [1]), lk(20, 20, '0x1')]);
    expect([...m.targets.get('10')!.syscalls!.keys()]).toEqual(['read', 'write']);
    expect([...m.targets.get('20')!.syscalls!.keys()]).toEqual(['read', '(other)']);
    expect(m.targets.get('20')!.syscalls!.get('(other)')!.calls).toBe(2);
    expect([...m.targets.get('20')!.locks!.values()].map(l => l.labels.lock)).toEqual(['(other)']);
    // the first target ends and goes: its items are free for others
    m.write(exit(10, 0, null));
    m.refresh([sc(10, 10, 'read', 1, [1]), sc(10, 10, 'write', 1, [1]), sc(20, 20, 'read', 1, [1]), sc(20, 20, 'openat', 1, [1]),
      sc(20, 20, 'close', 1, [1]), lk(20, 20, '0x1')]); // a scrape after its end
    now = 2000;
    m.prune();
    m.refresh([sc(20, 20, 'read', 1, [1]), sc(20, 20, 'openat', 1, [1]), sc(20, 20, 'close', 1, [1])]);
    expect([...m.targets.get('20')!.syscalls!.keys()]).toEqual(['read', 'openat', 'close']);
  });

  it('do not bring back a target dropped after its grace period, though the kernel still lists its entries', () => {
    let now = 0;
    const m = new MetricsState({ perThread: false, maxTargets: 10, graceSec: 1, maxItems: 100 }, () => now, living);
    const dead = [sc(30, 30, 'read', 1, [1]), lk(30, 30, '0x1')];
    m.refresh(dead);
    m.write(exit(30, 0, null));
    m.refresh(dead); // a scrape after its end
    now = 2000;
    m.prune();
    m.refresh(dead);
    expect(m.targets.has('30')).toBe(false);
    // the entries went (a new activation): a later process with that id is a target again
    m.refresh([]);
    m.refresh(dead);
    expect(m.targets.get('30')!.alive).toBe(true);
  });

  it('name a process by its main thread, whatever its other threads are called', () => {
    const m = new MetricsState();
    m.refresh([sc(11, 10, 'read', 1, [1], 'worker'), sc(10, 10, 'read', 1, [1], 'server'), sc(12, 10, 'read', 1, [1], 'logger')]);
    expect(m.targets.get('10')!.labels).toEqual({ tgid: 10, comm: 'server' });
  });
});

describe('off-CPU time by waker', () => {
  it('adds up by waker comm, kernel threads without their instance, past the bound under (other)', () => {
    const m = new MetricsState();
    m.write({ ...off(11, 10, 2e9), waker: waker('nginx', 'task') });
    m.write({ ...off(12, 10, 1e9), waker: waker('nginx', 'task') });
    m.write({ ...off(12, 10, 1e9), waker: waker('kworker/u8:2', 'kthread') });
    m.write({ ...off(12, 10, 5e8, 'R') });
    const t = m.targets.get('10')!;
    expect(Object.fromEntries(t.wakers)).toEqual({ nginx: 3e9, kworker: 1e9 });
    for (let k = 0; k < WAKER_LABELS; k++) m.write({ ...off(11, 10, 1), waker: waker(`c${k}`, 'task') });
    expect(t.wakers.size).toBe(WAKER_LABELS + 1);
    expect(t.wakers.get('(other)')).toBe(2);
    expect(wakerComm(waker('swapper/0', 'hardirq'))).toBe('(interrupt)');
    expect(wakerComm(waker(null, 'task'))).toBe('(unknown)');
  });
});

describe('the series bound of docs/metrics.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  const formula = /^series ≤ S \+ (\d+) \+ (\d+) \+ (\d+) × (\d+) \+ (\d+) \+ (\d+)$/m.exec(doc);

  /** Every target, item and label value the code can give, served with at most `maxSeries` series of the targets' own. */
  function worstCase(maxSeries: number): { count: number; own: number } {
    // every label value the code can give: task states, lock kinds, syscall slots
    const states = new Set<string>();
    for (let bits = 0; bits < 1 << 13; bits++) for (const p of [false, true]) states.add(taskState(bits, p).state);
    const kinds = new Map<string, ReturnType<typeof kindOf>>();
    for (const k of Object.values(pi_lock_kind)) for (let f = 0; f < 64; f++) { const x = kindOf(k, f); kinds.set(JSON.stringify(x), x); }
    const slots = Number(/#define PI_SC_NR_MAX (\d+)/.exec(readFileSync(join(ROOT, 'bpf/procimage.h'), 'utf8'))![1]);
    expect(states.size).toBe(9);
    expect(kinds.size).toBe(16);
    expect(Object.keys(LOST_REASONS)).toHaveLength(16);

    const m = new MetricsState(opts({ maxTargets: 100, maxItems: 2000, top: 20, maxSeries }), () => 0, living);
    const records: ProcRecord[] = [];
    // targets with entries of their own and more than the model keeps, with every exit status among them
    const statuses = [...Array.from({ length: 256 }, (_, c) => [c, null] as const), ...Array.from({ length: 64 }, (_, i) => [null, `SIG${i + 1}`] as const)];
    m.write(off(99, 99, 1)); // one alive: "(other)"'s target_up counts the living (the ended ones are settled)
    for (let i = 0; i < statuses.length; i++) {
      const pid = 100 + i, base = { ts_ns: 1, pid, tgid: pid, comm: 'w', cpu: 0 };
      for (const thread of [false, true]) m.write({ ...base, type: 'fork', child_pid: 0, child_tgid: 0, thread, child_start_ts_ns: 0 } as ProcRecord);
      m.write({ ...base, type: 'exec' } as ProcRecord);
      m.write({ ...base, type: 'oncpu', duration_ns: 5 + i } as ProcRecord);
      for (const st of states) m.write(off(pid, pid, 5, st));
      // more waker names than a target has label sets for, of every kind
      for (let k = 0; k < WAKER_LABELS + 3; k++) m.write({ ...off(pid, pid, 5), waker: waker(`w${k}`, 'task') });
      for (const context of ['kthread', 'hardirq', 'softirq'] as const) m.write({ ...off(pid, pid, 5), waker: waker('kworker/0:1', context) });
      m.write(res('process', pid, pid, 1));
      records.push(sched(pid, pid, [1]));
      // more syscall names, all targets together, than "(other)" keeps, and locks of every kind
      for (let n = 0; n < 3; n++) records.push(sc(pid, pid, `call${(i * 3 + n) % 100}`, 1, [1]));
      for (const k of kinds.values()) for (let a = 0; a < 3; a++) records.push(lk(pid, pid, `0x${a}`, { ...k, symbol: null }));
      const [code, signal] = statuses[i];
      m.write({ ...exit(pid, code, signal), signal_name: signal });
    }
    for (let slot = 0; slot <= slots; slot++) {
      records.push({ ...sc(0, 0, slot < slots ? syscallName(slot) : 'syscall_out_of_range', 1, []), scope: 'system' });
    }
    records.push(sched(0, 0, [1], 'system'));
    m.write({ type: 'resource', scope: 'system', ts_ns: 1, pid: 0, tgid: 0, comm: '', user_ns: 1, system_ns: 1, read_bytes: 1,
      write_bytes: 1, minor_faults: 1, major_faults: 1, context_switches: 1, mem_used_bytes: 1, mem_available_bytes: 1,
      mem_total_bytes: 1 } as unknown as ProcRecord);
    m.refresh(records);
    const source = { snapshot: () => [], active: true, categories: ['keytime'], programStats: () => [] };
    const all = procimageMetrics(m, source, false);
    all.prepare();
    return { count: all.metrics.reduce((n, x) => n + x.get().values.length, 0), own: all.folder.ownSeries };
  }

  it('is the count of the worst case: every target folded, every label value the code can give', () => {
    expect(formula, 'the formula line of docs/metrics.md').not.toBeNull();
    const [perTarget, overflowPerTarget, perItem, otherSyscalls, otherExits, rest] = formula!.slice(1).map(Number);
    const fixed = perTarget + overflowPerTarget + perItem * otherSyscalls + otherExits + rest;
    // no series of the targets' own: "(other)" and the rest, every label value there
    expect(worstCase(0)).toEqual({ count: fixed, own: 0 });
    // with them: never more than the ceiling
    for (const S of [100, 2000, 100_000]) {
      const { count, own } = worstCase(S);
      if (S >= 2000) expect(own).toBeGreaterThan(0); // 100: less than one target's series in every metric
      expect(own).toBeLessThanOrEqual(S);
      expect(count).toBeLessThanOrEqual(fixed + own); // less: "(other)" lacks the exit codes only shown targets had
    }
    // and each part is what the table says it is: a histogram is 30 series
    expect(log2HistogramSamples({}, [], 0, 0)).toHaveLength(30);
  });
});

describe('--listen', () => {
  it.each([
    ['9100', { host: '127.0.0.1', port: 9100 }],
    ['0.0.0.0:9100', { host: '0.0.0.0', port: 9100 }],
    ['[::1]:9100', { host: '::1', port: 9100 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
  ])('%s', (arg, want) => expect(parseListen(arg)).toEqual(want));

  it.each([['999.1.1.1:80', /'999\.1\.1\.1' is not an IP address/], ['host:80', /not an IP address/],
    ['1.2.3.4:99999', /port must be 1-65535/], ['x', /HOST:PORT or PORT/]])('refuses %s', (arg, msg) => {
    expect(() => parseListen(arg)).toThrow(msg);
  });
});
