// What the exporter knows between scrapes: counters built from the records as they arrive (a Sink),
// and the kernel's aggregates read at each scrape, per target, with the series bounded — at most
// `maxTargets` label sets (the rest add up under comm="(other)"), at most `maxItems` syscalls and
// locks of targets with their own (items.ts), and a target that ended is dropped `graceSec` after
// its end. An end is known from a keytime exit record, a resource record taken at the exit, or, for
// every category, from /proc at a scrape (liveness.ts).
import { LOST_REASONS } from '../../collect/lost.js';
import type { AggWaker, LockRecord, ProcRecord, ResourceRecord, ResourceSystemRecord, SchedRecord, SyscallStatRecord } from '../../collect/records.js';
import type { Sink } from '../../model/session.js';
import { DEFAULT_FOLD } from './fold.js';
import { ItemBudget, OTHER, addLock, addSyscall, lockName, type LockTotals, type SyscallTotals } from './items.js';
import { procLiveness, type Liveness } from './liveness.js';
import { addSlots, type Labels } from './metric.js';
import { OtherResource } from './other-resource.js';

export interface MetricsOptions {
  /** Label series by thread (pid) too, not only by process (tgid, comm). Opt-in: threads are many. */
  perThread: boolean;
  /** Targets with their own label sets; beyond them, figures add up under comm="(other)". */
  maxTargets: number;
  /** Seconds an ended process's series are kept (so a last scrape and rate() see its end). */
  graceSec: number;
  /** Syscalls and locks of targets with their own label sets, all targets together. */
  maxItems: number;
  /** Targets with their own series in each metric at a scrape, the largest first (fold.ts; default 20). */
  top?: number;
  /** Ceiling on the targets' own series per scrape (fold.ts; default 5000). */
  maxSeries?: number;
}

export const DEFAULT_METRICS: MetricsOptions = { perThread: false, maxTargets: 1000, graceSec: 120, maxItems: 2000, ...DEFAULT_FOLD };

export interface DelayTotals { slots: number[]; count: number; totalNs: number; maxNs: number }

/** A target's resource figures: the counters since it started, the memory now. */
export interface ResourceTotals {
  userNs: number; systemNs: number;
  readBytes: number; writeBytes: number; ioReadBytes: number; ioWriteBytes: number;
  minorFaults: number; majorFaults: number; voluntary: number; involuntary: number;
  rss: { anon: number; file: number; shmem: number } | null;
  vmBytes: number | null; swapBytes: number | null;
}

/** The whole system's resource figures: counters accumulated interval by interval, memory now. */
export interface SystemResource {
  userNs: number; systemNs: number; readBytes: number; writeBytes: number;
  minorFaults: number; majorFaults: number; switches: number;
  memUsed: number; memAvailable: number; memTotal: number;
}

export interface Target {
  labels: Labels;
  /** The task it stands for: a thread (perThread) or a process; 0 for "(other)" and the idle tasks. */
  pid: number;
  tgid: number;
  /**
   * perThread only: the process itself, for its resource figures (its memory, and its CPU time with
   * that of threads that ended): labels without pid, no other series.
   */
  processView: boolean;
  /** Which record its resource figures come from: the process's own, or its one thread's (-p, -c). */
  resourceScope?: 'process' | 'thread';
  forks: { thread: number; process: number };
  execs: number;
  exits: Map<string, { code: string; signal: string; n: number }>;
  oncpuNs: number;
  offcpu: Map<string, { ns: number; n: number }>; // by state letter
  /** Off-CPU ns of its woken sleeps by waker name (wakerComm): at most WAKER_LABELS, then "(other)". */
  wakers: Map<string, number>;
  sched?: DelayTotals;
  /** The kernel's entries of its threads (by pid/cpu) at the last read, and those of threads that ended since. */
  schedThreads?: Map<string, DelayTotals>;
  schedEnded?: DelayTotals;
  resource?: ResourceTotals;
  syscalls?: Map<string, SyscallTotals>; // by syscall name
  locks?: Map<string, LockTotals>;
  /** Its syscalls and locks that have label sets of their own (ItemBudget). */
  items: Set<string>;
  alive: boolean;
  endedAt?: number;
  /** A read of the kernel's aggregates (a scrape) came after its end: its last figures are in. */
  endRead?: boolean;
}

/** cgroups with their own label set in procimage_cgroup_sched_delay_seconds (docs/metrics.md). */
export const MAX_CGROUPS = 100;

export class MetricsState implements Sink {
  readonly targets = new Map<string, Target>();
  readonly lost = new Map<string, number>();
  system: DelayTotals | undefined;
  /**
   * With a cgroup target: each cgroup's scheduling delay (its threads summed, ended ones kept), at
   * most MAX_CGROUPS label sets, the rest summed under cgroup="(other)".
   */
  cgroups = new Map<string, DelayTotals>();
  systemResource: SystemResource | undefined;
  /** Every process's syscalls by name, since activation. */
  systemSyscalls: Map<string, number> | undefined;
  private readonly budget: ItemBudget;
  /**
   * Targets dropped after their grace period. The kernel's aggregates (syscalls, locks) keep a dead
   * thread's entries until the activation ends, and a scrape must not bring its series back.
   */
  private readonly gone = new Set<string>();
  /** The resource figures of the targets that add up under "(other)". */
  private readonly otherResource = new OtherResource();
  /** Told of each target dropped (its series go), before it goes: "(other)" keeps its part (fold.ts). */
  onDrop: ((t: Target) => void) | undefined;
  /**
   * Whether the last scrape served series of the target's own (fold.ts); unset, all are taken to.
   * An ended target without any goes at the next scrape, grace or not: its part is in "(other)",
   * and under a fork storm the ended ones would fill the model for the grace period.
   */
  hasSeries: ((t: Target) => boolean) | undefined;

  constructor(readonly opts: MetricsOptions = DEFAULT_METRICS, private readonly now = () => Date.now(),
    private readonly alive: Liveness = procLiveness) {
    // every reason at 0 from the start: an alert on the counter needs the series to exist
    for (const reason of Object.keys(LOST_REASONS)) this.lost.set(reason, 0);
    this.budget = new ItemBudget(opts.maxItems);
  }

  private key(r: { pid: number; tgid: number }): string {
    return String(this.opts.perThread ? r.pid : r.tgid);
  }

  /** perThread: the key of a process's own entry (its resource figures); else its target's. */
  private processKey(r: { pid: number; tgid: number }): string {
    return this.opts.perThread ? `p${r.tgid}` : String(r.tgid);
  }

  /**
   * The target of a record's task (or, `view`, the process entry of its process): created on first
   * sight, or "(other)" past the bound.
   */
  private target(r: { pid: number; tgid: number; comm: string; cgroup?: string | null }, view = false): Target {
    view &&= this.opts.perThread;
    let k = view ? this.processKey(r) : this.key(r);
    let t = this.targets.get(k);
    if (!t && this.targets.size >= this.opts.maxTargets) {
      k = OTHER;
      t = this.targets.get(k);
      r = { pid: 0, tgid: 0, comm: OTHER };
      view = false;
    }
    if (!t) {
      t = { labels: {}, pid: this.opts.perThread && !view ? r.pid : r.tgid, tgid: r.tgid, processView: view,
        forks: { thread: 0, process: 0 }, execs: 0, exits: new Map(), oncpuNs: 0, offcpu: new Map(), wakers: new Map(), items: new Set(), alive: true };
      this.targets.set(k, t);
    }
    const threadLabels = this.opts.perThread && !view;
    if (k === OTHER) {
      t.labels = this.opts.perThread ? { pid: '', tgid: '', comm: OTHER } : { tgid: '', comm: OTHER };
    } else if (threadLabels || r.pid === r.tgid || t.labels.comm === undefined) {
      // a process goes by its main thread's name: another thread's would change its label set
      // a cgroup target's: the cgroup the target was first seen in (a label that changed would make
      // another series: the bound stays one label set per target)
      const cgroup = t.labels.cgroup ?? (typeof r.cgroup === 'string' ? r.cgroup : undefined);
      t.labels = threadLabels ? { pid: r.pid, tgid: r.tgid, comm: r.comm } : { tgid: r.tgid, comm: r.comm };
      if (cgroup !== undefined) t.labels.cgroup = cgroup;
    }
    return t;
  }

  /** A target's end, as first known. "(other)" stands for many: one of them ending is not its end. */
  private end(t: Target): void {
    if (!t.alive || t.labels.comm === OTHER) return;
    t.alive = false;
    t.endedAt = this.now();
  }

  write(r: ProcRecord): void {
    // an event of a live task with the id of a dropped target: the id was reused (the aggregates a
    // final poll reports again are no such sign)
    if ((r.type === 'fork' || r.type === 'exec' || r.type === 'oncpu' || r.type === 'offcpu' || r.type === 'offcpu_agg') && this.gone.size) this.gone.delete(this.key(r));
    switch (r.type) {
      case 'fork':
        this.target(r).forks[r.thread ? 'thread' : 'process']++;
        break;
      case 'exec':
        this.target(r).execs++;
        break;
      case 'exit': {
        if (!r.process_exit && !this.opts.perThread) break;
        const t = this.target(r);
        const code = r.exit_code === null ? '' : String(r.exit_code), signal = r.signal_name ?? '';
        const e = t.exits.get(`${code}/${signal}`) ?? { code, signal, n: 0 };
        e.n++;
        t.exits.set(`${code}/${signal}`, e);
        // the end as first known: a scrape may have seen it gone from /proc before this record came
        this.end(t);
        // the process's own entry, if it has one, ends with it
        const view = r.process_exit && this.opts.perThread ? this.targets.get(this.processKey(r)) : undefined;
        if (view) this.end(view);
        break;
      }
      case 'oncpu':
        if (r.duration_ns !== null) this.target(r).oncpuNs += r.duration_ns;
        break;
      case 'offcpu': case 'offcpu_agg': {
        // an offcpu_agg record: the short intervals counted in the kernel (and the on-CPU time they ended)
        const [n, ns] = r.type === 'offcpu_agg' ? [r.count, r.total_ns] : [1, r.duration_ns];
        if (ns === null) break;
        const t = this.target(r);
        const o = t.offcpu.get(r.state) ?? { ns: 0, n: 0 };
        o.ns += ns;
        o.n += n;
        t.offcpu.set(r.state, o);
        if (r.type === 'offcpu_agg') t.oncpuNs += r.oncpu_ns;
        if (r.waker) {
          const name = wakerComm(r.waker);
          const key = t.wakers.has(name) || t.wakers.size < WAKER_LABELS ? name : OTHER;
          t.wakers.set(key, (t.wakers.get(key) ?? 0) + ns);
        }
        break;
      }
      case 'lost':
        this.lost.set(r.reason, (this.lost.get(r.reason) ?? 0) + r.count);
        break;
      case 'resource':
        if (r.scope === 'system') this.systemInterval(r);
        else this.resource(r);
        break;
    }
  }

  /**
   * A task's resource totals (idempotent: a scrape's read repeats the last sample). A target's own
   * figures are its process's record where the collector reports processes (every process, -P), else
   * its thread's (-p TID, -c CPU: the target is that one thread); with perThread, a thread's record
   * is also its own series (pid label), beside its process's.
   */
  private resource(r: ResourceRecord): void {
    const view = this.processKey(r);
    if (!this.gone.has(view)) {
      const p = this.target(r, true);
      if (p.labels.comm === OTHER) {
        // only processes add up there (threads alone are reported for -p and -c: one target each)
        if (r.scope === 'process') {
          this.otherResource.update(view, { pid: r.tgid, tgid: r.tgid, thread: false }, totalsOf(r), r.exited);
          p.resource = this.otherResource.totals();
        }
      } else if (r.scope === 'process' || p.resourceScope !== 'process') {
        p.resource = totalsOf(r);
        p.resourceScope = r.scope;
        // a thread's end is not its process's (-p: the process, alive or not, is asked of /proc)
        if (r.exited && r.scope === 'process') this.end(p);
      }
    }
    if (this.opts.perThread && r.scope === 'thread' && !this.gone.has(this.key(r))) {
      const t = this.target(r);
      if (t.labels.comm !== OTHER) { // "(other)" adds up processes: their own entries did
        t.resource = totalsOf(r);
        t.resourceScope = 'thread';
        if (r.exited) this.end(t);
      }
    }
  }

  /** One interval of the system's figures, added up (only from the regular samples, never a scrape's). */
  private systemInterval(r: ResourceSystemRecord): void {
    const s = this.systemResource ??= {
      userNs: 0, systemNs: 0, readBytes: 0, writeBytes: 0, minorFaults: 0, majorFaults: 0, switches: 0,
      memUsed: 0, memAvailable: 0, memTotal: 0,
    };
    s.userNs += r.user_ns;
    s.systemNs += r.system_ns;
    s.readBytes += r.read_bytes;
    s.writeBytes += r.write_bytes;
    s.minorFaults += r.minor_faults;
    s.majorFaults += r.major_faults;
    s.switches += r.context_switches;
    Object.assign(s, { memUsed: r.mem_used_bytes, memAvailable: r.mem_available_bytes, memTotal: r.mem_total_bytes });
  }

  /**
   * Aggregates read from the kernel now (at scrape time): cumulative since activation, so they
   * replace what the last read said.
   */
  refresh(records: ProcRecord[]): void {
    // what the kernel no longer lists is gone from its aggregates too: no need to remember it
    const listed = new Set(records.flatMap(r => r.type === 'resource' && r.scope !== 'system' ? [this.key(r), this.processKey(r)] : [this.key(r)]));
    for (const k of this.gone) if (!listed.has(k)) this.gone.delete(k);
    this.otherResource.forgetEnded(listed);
    for (const r of records) if (r.type === 'resource' && r.scope !== 'system') this.resource(r); // gone: checked there
    if (this.gone.size) records = records.filter(r => !this.gone.has(this.key(r)));
    const sched = records.filter((r): r is SchedRecord => r.type === 'sched');
    if (sched.length) this.sched(sched);
    this.syscalls(records.filter((r): r is SyscallStatRecord => r.type === 'syscall_stat'));
    this.locks(records.filter((r): r is LockRecord => r.type === 'lock'));
    for (const t of this.targets.values()) if (!t.alive) t.endRead = true;
  }

  /**
   * One of the targets' aggregates, rebuilt from the kernel's entries (cumulative since activation,
   * per thread: each read replaces the last, a process's threads add up). A target the kernel no
   * longer reports keeps its last figures for the grace period if it ended, and loses them if it
   * lives on (collection stopped).
   */
  private rebuild<F extends 'syscalls' | 'locks', R extends ProcRecord>(field: F, records: R[],
    add: (t: Target, r: R) => void): void {
    const reported = new Set<Target>();
    for (const r of records) {
      const t = this.target(r);
      if (!reported.has(t)) { t[field] = undefined; reported.add(t); }
      add(t, r);
    }
    for (const t of this.targets.values()) if (t.alive && !reported.has(t)) t[field] = undefined;
  }

  /** Syscalls per target and syscall, and the whole system's counts. */
  private syscalls(records: SyscallStatRecord[]): void {
    const system = new Map<string, number>();
    for (const r of records) if (r.scope === 'system') system.set(r.syscall, (system.get(r.syscall) ?? 0) + r.count);
    this.systemSyscalls = system.size ? system : undefined;
    this.rebuild('syscalls', records.filter(r => r.scope !== 'system'), (t, r) =>
      addSyscall(t.syscalls ??= new Map(), this.budget.admit(t.items, `syscall:${r.syscall}`) ? r.syscall : OTHER, r));
  }

  /** Locks per target and lock. */
  private locks(records: LockRecord[]): void {
    this.rebuild('locks', records, (t, r) => {
      const name = lockName(r);
      // an item is a label set: a rwlock taken for reading and for writing is two
      addLock(t.locks ??= new Map(), this.budget.admit(t.items, `lock:${r.source}:${r.kind}:${r.mode ?? ''}:${name}`) ? name : OTHER, r);
    });
  }

  /**
   * Scheduling delay per target (its threads add up), and the whole system's. The kernel drops an
   * exited thread's entry once it has been reported: what that thread waited stays in its target's
   * figures (schedEnded), or a process's counters would go back each time one of its threads ends.
   */
  private sched(records: SchedRecord[]): void {
    const totals = (r: SchedRecord): DelayTotals => ({ slots: r.hist_log2_ns, count: r.count, totalNs: r.total_ns, maxNs: r.max_ns ?? 0 });
    const listed = new Map<Target, Map<string, DelayTotals>>();
    const cgroups: SchedRecord[] = [];
    for (const r of records) {
      if (r.scope === 'system') { this.system = totals(r); continue; }
      if (r.scope === 'cgroup') { cgroups.push(r); continue; }
      const t = this.target(r);
      let threads = listed.get(t);
      if (!threads) listed.set(t, threads = new Map());
      threads.set(`${r.pid}/${r.cpu ?? ''}`, totals(r)); // the idle tasks: pid 0 on each CPU
    }
    for (const t of this.targets.values()) {
      const threads = listed.get(t);
      if (!threads) {
        // not listed at all: an ended target keeps its figures, a living one's went with the collection
        if (t.alive) t.sched = t.schedThreads = t.schedEnded = undefined;
        continue;
      }
      for (const [k, d] of t.schedThreads ?? []) if (!threads.has(k)) t.schedEnded = t.schedEnded ? addDelays(t.schedEnded, d) : d;
      t.schedThreads = threads;
      t.sched = [...threads.values()].reduce(addDelays, t.schedEnded ?? { slots: [], count: 0, totalNs: 0, maxNs: 0 });
    }
    if (cgroups.length) {
      // cumulative per cgroup since activation (the collector keeps ended threads' part): replaced whole
      const by = new Map<string, DelayTotals>();
      for (const r of cgroups.sort((a, b) => (a.cgroup! < b.cgroup! ? -1 : 1))) {
        const k = by.size < MAX_CGROUPS || by.has(r.cgroup!) ? r.cgroup! : OTHER;
        by.set(k, by.has(k) ? addDelays(by.get(k)!, totals(r)) : totals(r));
      }
      this.cgroups = by;
    }
  }

  /**
   * Before a scrape: marks the ends nothing reported (the task is gone from /proc, or a zombie), then
   * drops the series of targets that ended more than graceSec ago.
   */
  prune(): void {
    for (const t of this.targets.values()) {
      // "(other)" and the idle tasks (pid 0, one per CPU) never end
      if (t.alive && t.tgid !== 0 && !this.alive(t.pid, t.tgid, this.opts.perThread && !t.processView)) this.end(t);
    }
    this.otherResource.prune(m => this.alive(m.pid, m.tgid, m.thread));
    const other = this.targets.get(OTHER);
    if (other?.resource) other.resource = this.otherResource.totals();
    const cutoff = this.now() - this.opts.graceSec * 1000;
    for (const [k, t] of this.targets) {
      // not before a scrape has read its last figures: what it did between two scrapes is not lost
      if (t.alive || t.endedAt === undefined || !t.endRead) continue;
      if (t.endedAt >= cutoff && (!this.hasSeries || this.hasSeries(t))) continue;
      this.onDrop?.(t);
      this.budget.release(t.items);
      this.targets.delete(k);
      this.gone.add(k);
    }
  }
}

function addDelays(a: DelayTotals, b: DelayTotals): DelayTotals {
  return { slots: addSlots(a.slots, b.slots), count: a.count + b.count, totalNs: a.totalNs + b.totalNs, maxNs: Math.max(a.maxNs, b.maxNs) };
}

function totalsOf(r: ResourceRecord): ResourceTotals {
  return {
    userNs: r.total_user_ns, systemNs: r.total_system_ns,
    readBytes: r.total_read_bytes, writeBytes: r.total_write_bytes,
    ioReadBytes: r.total_io_read_bytes, ioWriteBytes: r.total_io_write_bytes,
    minorFaults: r.total_minor_faults, majorFaults: r.total_major_faults,
    voluntary: r.total_voluntary_switches, involuntary: r.total_involuntary_switches,
    rss: r.rss_anon_bytes === null ? null : { anon: r.rss_anon_bytes, file: r.rss_file_bytes ?? 0, shmem: r.rss_shmem_bytes ?? 0 },
    vmBytes: r.vm_bytes, swapBytes: r.swap_bytes,
  };
}

/** Waker names a target has series of its own for; the rest add up under "(other)" (docs/metrics.md). */
export const WAKER_LABELS = 16;

/**
 * A waker as the metric's label: its comm; a kernel thread's without its instance ("kworker/0:1",
 * "kworker/u8:2" are "kworker"), interrupts and softirqs as "(interrupt)" and "(softirq)".
 */
export function wakerComm(w: AggWaker): string {
  if (w.context === 'hardirq') return '(interrupt)';
  if (w.context === 'softirq') return '(softirq)';
  if (w.comm === null) return '(unknown)';
  return w.context === 'kthread' ? w.comm.replace(/\/.*$/, '') : w.comm;
}
