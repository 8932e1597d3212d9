// What the exporter knows between scrapes: counters built from the records as they arrive (a Sink),
// per target, with the series bounded — at most `maxTargets` label sets (the rest add up under
// comm="(other)"), and a target that ended is dropped `graceSec` after its end.
import { LOST_REASONS } from '../../collect/lost.js';
import type { ProcRecord, SchedRecord } from '../../collect/records.js';
import type { Sink } from '../../model/session.js';
import { addSlots, type Labels } from './metric.js';

export interface MetricsOptions {
  /** Label series by thread (pid) too, not only by process (tgid, comm). Opt-in: threads are many. */
  perThread: boolean;
  /** Targets with their own label sets; beyond them, figures add up under comm="(other)". */
  maxTargets: number;
  /** Seconds an ended process's series are kept (so a last scrape and rate() see its end). */
  graceSec: number;
}

export const DEFAULT_METRICS: MetricsOptions = { perThread: false, maxTargets: 1000, graceSec: 120 };

export interface DelayTotals { slots: number[]; count: number; totalNs: number; maxNs: number }

export interface Target {
  labels: Labels;
  forks: { thread: number; process: number };
  execs: number;
  exits: Map<string, { code: string; signal: string; n: number }>;
  oncpuNs: number;
  offcpu: Map<string, { ns: number; n: number }>; // by state letter
  sched?: DelayTotals;
  alive: boolean;
  endedAt?: number;
}

const OTHER = '(other)';

export class MetricsState implements Sink {
  readonly targets = new Map<string, Target>();
  readonly lost = new Map<string, number>();
  system: DelayTotals | undefined;

  constructor(readonly opts: MetricsOptions = DEFAULT_METRICS, private readonly now = () => Date.now()) {
    // every reason at 0 from the start: an alert on the counter needs the series to exist
    for (const reason of Object.keys(LOST_REASONS)) this.lost.set(reason, 0);
  }

  private key(r: { pid: number; tgid: number }): string {
    return String(this.opts.perThread ? r.pid : r.tgid);
  }

  /** The target of a record's task: created on first sight, or "(other)" past the bound. */
  private target(r: { pid: number; tgid: number; comm: string }): Target {
    let k = this.key(r);
    let t = this.targets.get(k);
    if (!t && this.targets.size >= this.opts.maxTargets) {
      k = OTHER;
      t = this.targets.get(k);
      r = { pid: 0, tgid: 0, comm: OTHER };
    }
    if (!t) {
      t = { labels: {}, forks: { thread: 0, process: 0 }, execs: 0, exits: new Map(), oncpuNs: 0, offcpu: new Map(), alive: true };
      this.targets.set(k, t);
    }
    if (k !== OTHER) {
      t.labels = this.opts.perThread ? { pid: r.pid, tgid: r.tgid, comm: r.comm } : { tgid: r.tgid, comm: r.comm };
    } else {
      t.labels = this.opts.perThread ? { pid: '', tgid: '', comm: OTHER } : { tgid: '', comm: OTHER };
    }
    return t;
  }

  write(r: ProcRecord): void {
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
        t.alive = false;
        t.endedAt = this.now();
        break;
      }
      case 'oncpu':
        if (r.duration_ns !== null) this.target(r).oncpuNs += r.duration_ns;
        break;
      case 'offcpu': {
        if (r.duration_ns === null) break;
        const t = this.target(r);
        const o = t.offcpu.get(r.state) ?? { ns: 0, n: 0 };
        o.ns += r.duration_ns;
        o.n++;
        t.offcpu.set(r.state, o);
        break;
      }
      case 'lost':
        this.lost.set(r.reason, (this.lost.get(r.reason) ?? 0) + r.count);
        break;
    }
  }

  /**
   * Aggregates read from the kernel now (at scrape time): cumulative since activation, so they
   * replace what the last read said.
   */
  refresh(records: ProcRecord[]): void {
    const sched = records.filter((r): r is SchedRecord => r.type === 'sched');
    if (sched.length) this.sched(sched);
  }

  /**
   * Scheduling delay, whole: per process its threads add up. A target the kernel no longer reports
   * (it ended, its entry went) keeps its last figures for the grace period. (Polled records are not
   * taken one by one.)
   */
  private sched(records: SchedRecord[]): void {
    const reported = new Set<Target>();
    for (const r of records) {
      const d: DelayTotals = { slots: r.hist_log2_ns, count: r.count, totalNs: r.total_ns, maxNs: r.max_ns ?? 0 };
      if (r.scope === 'system') { this.system = d; continue; }
      const t = this.target(r);
      if (!reported.has(t)) { t.sched = undefined; reported.add(t); }
      t.sched = t.sched ? {
        slots: addSlots(t.sched.slots, d.slots), count: t.sched.count + d.count, totalNs: t.sched.totalNs + d.totalNs,
        maxNs: Math.max(t.sched.maxNs, d.maxNs),
      } : d;
    }
    for (const t of this.targets.values()) if (t.alive && !reported.has(t)) t.sched = undefined;
  }

  /** Drops the series of targets that ended more than graceSec ago. */
  prune(): void {
    const cutoff = this.now() - this.opts.graceSec * 1000;
    for (const [k, t] of this.targets) if (!t.alive && t.endedAt !== undefined && t.endedAt < cutoff) this.targets.delete(k);
  }
}
