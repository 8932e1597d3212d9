// Every metric procimage exports, computed at scrape time from the state (docs/metrics.md lists them
// with their types, units, labels and a query each). Units are in the names: _seconds, _bytes, _total.
import { DEFAULT_FOLD, Folder, type TargetMetric } from './fold.js';
import type { LockTotals, SyscallTotals } from './items.js';
import { log2HistogramRow, log2HistogramSamples, ScrapeMetric, type Labels, type MetricType, type Row, type Sample } from './metric.js';
import { OTHER } from './items.js';
import type { MetricsState, Target } from './state.js';

/** What the exporter asks the running session at each scrape. */
export interface MetricsSource {
  /** In-kernel aggregates now (cumulative since activation); [] in the ready state. */
  snapshot(): import('../../collect/records.js').ProcRecord[];
  readonly active: unknown;
  readonly categories: readonly string[];
  /** Kernel-measured cost of each loaded program (zero unless --bpf-stats). */
  programStats(): Array<{ program: string; runTimeNs: number; runs: number }>;
}

/** The metrics, and what to call before each rendering (it computes the per-target ones: fold.ts). */
export interface ProcimageMetrics {
  metrics: ScrapeMetric[];
  folder: Folder;
  prepare(): void;
  /** Seconds the phases of a scrape took (the exporter's: this scrape's read and fold, the last one's rendering). */
  timings: { read: number; fold: number; render: number };
}

export function procimageMetrics(state: MetricsState, source: MetricsSource, bpfStats: boolean): ProcimageMetrics {
  const timings = { read: 0, fold: 0, render: 0 };
  // per-target metrics are folded (fold.ts): their samples are computed once per scrape, in prepare()
  const defs: TargetMetric[] = [];
  let folder: Folder | undefined;
  const perTarget: PerTarget = (name, help, type, samples, more = {}) => {
    defs.push({ name, help, type, samples, ...more });
    return new ScrapeMetric(name, help, type, () => folder!.samples(name));
  };
  // a process's own entry (perThread) has resource series only (resourceMetrics)
  const each: Each = (name, help, type, f, more) => perTarget(name, help, type, t => (t.processView ? [] : f(t)), more);
  const m: ScrapeMetric[] = [
    new ScrapeMetric('procimage_active', 'Whether procimage is collecting (1) or in the ready state (0).', 'gauge',
      () => [{ labels: {}, value: source.active ? 1 : 0 }]),
    new ScrapeMetric('procimage_info', 'Categories this procimage attached (always 1).', 'gauge',
      () => [{ labels: { categories: source.categories.join(',') }, value: 1 }]),
    each('procimage_target_up', 'A target process (or thread) procimage has seen: 1 while alive, 0 after its end until dropped; comm="(other)": the folded targets alive.', 'gauge',
      t => (t.labels.comm === OTHER ? [] : [{ labels: t.labels, value: t.alive ? 1 : 0 }]), { followsOthers: true }),
    each('procimage_forks_total', 'New tasks a target created, by kind (thread or process).', 'counter',
      (t => (['thread', 'process'] as const).map(kind => ({ labels: { ...t.labels, kind }, value: t.forks[kind] })))),
    each('procimage_execs_total', 'Programs a target exec\'d.', 'counter', t => [{ labels: t.labels, value: t.execs }]),
    each('procimage_exits_total', 'Ends of target processes, by exit code or terminating signal.', 'counter',
      (t => [...t.exits.values()].map(e => ({ labels: { ...t.labels, code: e.code, signal: e.signal }, value: e.n })))),
    each('procimage_oncpu_seconds_total', 'Time targets spent on a CPU, from their on-CPU intervals (-k 1).', 'counter',
      (t => [{ labels: t.labels, value: t.oncpuNs / 1e9 }])),
    each('procimage_offcpu_seconds_total', 'Time targets spent off the CPU, by the state they left in (R preempted, S sleeping, D uninterruptible...).', 'counter',
      (t => [...t.offcpu].map(([state, o]) => ({ labels: { ...t.labels, state }, value: o.ns / 1e9 })))),
    each('procimage_offcpu_intervals_total', 'Off-CPU intervals of targets, by state.', 'counter',
      (t => [...t.offcpu].map(([state, o]) => ({ labels: { ...t.labels, state }, value: o.n })))),
    each('procimage_offcpu_waker_seconds_total', 'Time targets spent asleep until a wake-up, by the waker\'s comm ((interrupt), (softirq); kernel threads without their instance).', 'counter',
      (t => [...t.wakers].map(([waker, ns]) => ({ labels: { ...t.labels, waker }, value: ns / 1e9 })))),
    each('procimage_sched_delay_seconds', 'Scheduling delay of targets: from wakeup or preemption until running again (log2 buckets from the kernel).', 'histogram',
      (t => t.sched ? [log2HistogramRow(t.labels, t.sched.slots, t.sched.count, t.sched.totalNs)] : [])),
    each('procimage_sched_delay_max_seconds', 'Longest scheduling delay of a target since activation.', 'gauge',
      t => (t.sched ? [{ labels: t.labels, value: t.sched.maxNs / 1e9 }] : []), { gauge: 'max' }),
    new ScrapeMetric('procimage_system_sched_delay_seconds', 'Scheduling delay of every thread of the system but the idle tasks: the figure beside the targets\'.', 'histogram',
      () => state.system ? log2HistogramSamples({}, state.system.slots, state.system.count, state.system.totalNs) : []),
    new ScrapeMetric('procimage_system_sched_delay_max_seconds', 'Longest scheduling delay of any thread since activation.', 'gauge',
      () => state.system ? [{ labels: {}, value: state.system.maxNs / 1e9 }] : []),
    new ScrapeMetric('procimage_cgroup_sched_delay_seconds', 'With a cgroup target: scheduling delay of each cgroup\'s threads (the target cgroup and those below it), beside the system\'s.', 'histogram',
      () => [...state.cgroups].flatMap(([cgroup, d]) => log2HistogramSamples({ cgroup }, d.slots, d.count, d.totalNs))),
    ...resourceMetrics(state, perTarget),
    ...syscallMetrics(state, each),
    ...lockMetrics(each),
    new ScrapeMetric('procimage_lost_events_total', 'Records the kernel could not hand over, or entries it could not keep, by reason (docs/ndjson.md, lost).', 'counter',
      () => [...state.lost].map(([reason, n]) => ({ labels: { reason }, value: n }))),
    new ScrapeMetric('procimage_metrics_top_targets', 'Targets with series of their own in each per-target metric at this scrape (--metrics-top, lowered to keep within --metrics-max-series); the rest add up under comm="(other)".', 'gauge',
      () => [{ labels: {}, value: folder!.top }]),
    new ScrapeMetric('procimage_metrics_folded_series', 'Per-target series this scrape folded into comm="(other)": those the targets beyond the top would have had.', 'gauge',
      () => [{ labels: {}, value: folder!.foldedSeries }]),
    new ScrapeMetric('procimage_metrics_scrape_seconds', 'Time a scrape of /metrics took, by phase: read (the kernel\'s aggregates and /proc for ends) and fold (fold.ts) of this scrape, render (the text) of the one before.', 'gauge',
      () => Object.entries(timings).map(([phase, v]) => ({ labels: { phase }, value: v }))),
    new ScrapeMetric('procimage_metrics_folded_targets_total', 'Targets whose figures went into comm="(other)" in some metric, each counted once.', 'counter',
      () => [{ labels: {}, value: folder!.foldedTargets }]),
  ];
  if (bpfStats) {
    m.push(
      new ScrapeMetric('procimage_bpf_run_seconds_total', 'Time the kernel spent running each procimage BPF program (BPF_ENABLE_STATS).', 'counter',
        () => source.programStats().map(p => ({ labels: { program: p.program }, value: p.runTimeNs / 1e9 }))),
      new ScrapeMetric('procimage_bpf_runs_total', 'Runs of each procimage BPF program.', 'counter',
        () => source.programStats().map(p => ({ labels: { program: p.program }, value: p.runs }))),
    );
  }
  const f = folder = new Folder(defs, { top: state.opts.top ?? DEFAULT_FOLD.top, maxSeries: state.opts.maxSeries ?? DEFAULT_FOLD.maxSeries });
  state.onDrop = t => f.drop(t);
  state.hasSeries = t => f.hasSeries(t);
  return { metrics: m, folder: f, prepare: () => f.prepare(state.targets.values()), timings };
}

type More = Pick<TargetMetric, 'gauge' | 'followsOthers'>;
type PerTarget = (name: string, help: string, type: MetricType, f: (t: Target) => Row[], more?: More) => ScrapeMetric;
/** A per-target metric of the targets' own entries (not the processes' resource-only ones of perThread). */
type Each = PerTarget;

/**
 * resource (-r): per target from its totals since it started (with perThread, per thread and per
 * process: labels with and without pid), and the system's beside it.
 */
function resourceMetrics(state: MetricsState, perTarget: PerTarget): ScrapeMetric[] {
  const res = (f: (t: Target, r: import('./state.js').ResourceTotals) => Sample[]) => (t: Target) => (t.resource ? f(t, t.resource) : []);
  const sys = (f: (s: import('./state.js').SystemResource) => Sample[]) => () => (state.systemResource ? f(state.systemResource) : []);
  return [
    perTarget('procimage_cpu_seconds_total', 'On-CPU time of targets since they started, by mode (user, system).', 'counter',
      res((t, r) => [{ labels: { ...t.labels, mode: 'user' }, value: r.userNs / 1e9 }, { labels: { ...t.labels, mode: 'system' }, value: r.systemNs / 1e9 }])),
    perTarget('procimage_memory_rss_bytes', 'Resident memory of targets, by kind (anon, file, shmem).', 'gauge',
      res((t, r) => r.rss ? (['anon', 'file', 'shmem'] as const).map(kind => ({ labels: { ...t.labels, kind }, value: r.rss![kind] })) : [])),
    perTarget('procimage_memory_virtual_bytes', 'Virtual size of targets.', 'gauge',
      res((t, r) => r.vmBytes === null ? [] : [{ labels: t.labels, value: r.vmBytes }])),
    perTarget('procimage_memory_swap_bytes', 'Swapped-out memory of targets.', 'gauge',
      res((t, r) => r.swapBytes === null ? [] : [{ labels: t.labels, value: r.swapBytes }])),
    perTarget('procimage_storage_read_bytes_total', 'Bytes targets caused to be read from storage.', 'counter',
      res((t, r) => [{ labels: t.labels, value: r.readBytes }])),
    perTarget('procimage_storage_write_bytes_total', 'Bytes targets caused to be written to storage (counted when pages are dirtied).', 'counter',
      res((t, r) => [{ labels: t.labels, value: r.writeBytes }])),
    perTarget('procimage_io_read_bytes_total', 'Bytes targets read through read(2)-like calls: storage, page cache, pipes, sockets.', 'counter',
      res((t, r) => [{ labels: t.labels, value: r.ioReadBytes }])),
    perTarget('procimage_io_write_bytes_total', 'Bytes targets wrote through write(2)-like calls.', 'counter',
      res((t, r) => [{ labels: t.labels, value: r.ioWriteBytes }])),
    perTarget('procimage_page_faults_total', 'Page faults of targets, by kind (minor: served from memory, major: needing I/O).', 'counter',
      res((t, r) => [{ labels: { ...t.labels, kind: 'minor' }, value: r.minorFaults }, { labels: { ...t.labels, kind: 'major' }, value: r.majorFaults }])),
    perTarget('procimage_context_switches_total', 'Context switches of targets, by kind (voluntary: blocked, involuntary: preempted).', 'counter',
      res((t, r) => [{ labels: { ...t.labels, kind: 'voluntary' }, value: r.voluntary }, { labels: { ...t.labels, kind: 'involuntary' }, value: r.involuntary }])),
    new ScrapeMetric('procimage_system_cpu_seconds_total', 'Busy CPU time of the whole system since procimage began collecting, by mode.', 'counter',
      sys(s => [{ labels: { mode: 'user' }, value: s.userNs / 1e9 }, { labels: { mode: 'system' }, value: s.systemNs / 1e9 }])),
    new ScrapeMetric('procimage_system_memory_bytes', 'Memory of the whole system, by state (used = total - available, available, total).', 'gauge',
      sys(s => [{ labels: { state: 'used' }, value: s.memUsed }, { labels: { state: 'available' }, value: s.memAvailable }, { labels: { state: 'total' }, value: s.memTotal }])),
    new ScrapeMetric('procimage_system_storage_bytes_total', 'Bytes read from and written to the disks, whole system, since procimage began collecting.', 'counter',
      sys(s => [{ labels: { op: 'read' }, value: s.readBytes }, { labels: { op: 'write' }, value: s.writeBytes }])),
    new ScrapeMetric('procimage_system_page_faults_total', 'Page faults of the whole system since procimage began collecting, by kind.', 'counter',
      sys(s => [{ labels: { kind: 'minor' }, value: s.minorFaults }, { labels: { kind: 'major' }, value: s.majorFaults }])),
    new ScrapeMetric('procimage_system_context_switches_total', 'Context switches of the whole system since procimage began collecting.', 'counter',
      sys(s => [{ labels: {}, value: s.switches }])),
  ];
}

/** syscall (-s): per target and syscall, from the kernel's per-thread aggregates; the system's counts beside. */
function syscallMetrics(state: MetricsState, each: Each): ScrapeMetric[] {
  const per = (f: (labels: Labels, s: SyscallTotals) => Row[]) =>
    (t: Target) => (t.syscalls ? [...t.syscalls].flatMap(([syscall, s]) => f({ ...t.labels, syscall }, s)) : []);
  return [
    each('procimage_syscalls_total', 'System calls of targets, by syscall (counted as they return; exit and exit_group as they enter).', 'counter',
      per((labels, s) => [{ labels, value: s.calls }])),
    each('procimage_syscall_errors_total', 'System calls of targets that returned an error (-4095..-1), by syscall.', 'counter',
      per((labels, s) => [{ labels, value: s.errors }])),
    each('procimage_syscall_latency_seconds', 'Time from entry to return of targets\' system calls, by syscall (log2 buckets from the kernel; calls entered before activation are not in it).', 'histogram',
      per((labels, s) => [log2HistogramRow(labels, s.latency.slots, s.latency.count, s.latency.sumNs)])),
    new ScrapeMetric('procimage_system_syscalls_total', 'System calls of every process, by syscall, since activation: the figure beside the targets\'.', 'counter',
      () => state.systemSyscalls ? [...state.systemSyscalls].map(([syscall, n]) => ({ labels: { syscall }, value: n })) : []),
  ];
}

/** lock (-l): per target and lock (pthread lock, futex word or kernel lock), summed over its threads. */
function lockMetrics(each: Each): ScrapeMetric[] {
  const per = (f: (labels: Labels, l: LockTotals) => Row[], source?: string) =>
    (t: Target) => (t.locks ? [...t.locks.values()].filter(l => !source || l.labels.source === source)
      .flatMap(l => f({ ...t.labels, ...l.labels }, l)) : []);
  return [
    each('procimage_lock_acquisitions_total', 'pthread lock calls of targets that acquired the lock.', 'counter',
      per((labels, l) => [{ labels, value: l.acquisitions }], 'pthread')),
    each('procimage_lock_contended_total', 'Contentions: pthread acquisitions that found the lock held, futex waits, kernel lock contentions.', 'counter',
      per((labels, l) => [{ labels, value: l.contended }])),
    each('procimage_lock_failed_total', 'pthread trylocks that found the lock busy or lock calls that failed; futex and kernel waits that ended in an error.', 'counter',
      per((labels, l) => [{ labels, value: l.failed }])),
    each('procimage_lock_wait_seconds', 'Waits for a lock: pthread, the time in each acquiring lock call; futex and kernel, each wait (log2 buckets from the kernel).', 'histogram',
      per((labels, l) => [log2HistogramRow(labels, l.wait.slots, l.wait.count, l.wait.sumNs)])),
    each('procimage_lock_hold_seconds_total', 'Time targets held pthread locks (from acquisition to unlock).', 'counter',
      per((labels, l) => [{ labels, value: l.holdNs / 1e9 }], 'pthread')),
  ];
}
