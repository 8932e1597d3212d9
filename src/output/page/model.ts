// The page's model of an activation: what the web page shows, built from records as they come (live,
// from the session) or as a recording is read (report --listen / --html), and the queries the page
// asks. Browser-safe: no Node modules, so that a self-contained page (report --html) runs this same
// code on the model's JSON (toJSON / fromJSON) that a server would run on its records.
//
// Times are ns on the records' clock (the session clock's in a live run, the recording's start in a
// report); `t0` is when collection started on it, and the page shows seconds since then. Everything
// kept is bounded: the timeline's detail by a budget of intervals, the rest by distinct things
// (processes, threads, stacks, locks, syscalls) with a limit each, and series by halving.
import type { Policy } from '../../collect/policy.js';
import type { LockRecord, ProcRecord, SyscallThreadRecord } from '../../collect/records.js';
import { Processes, type Marker, type ProcessInfo, type ThreadInfo } from './processes.js';
import { histQuantile, ResourceSeries, SchedSeries, type Series } from './series.js';
import { waitedIn } from '../stackline.js';
import { flameTree, OffCpuSums, StackTable, type FlameNode } from './stacks.js';
import { LockTable, SyscallTable, type SyscallRow } from './tables.js';
import { F_BEFORE, F_INFERRED, F_ONGOING, F_TRUNCATED, KINDS, Timeline, type LaneView, type TimelineData } from './timeline.js';
import { Wakes, type WakeLink, type WakesData } from './wakes.js';

/** What the page says of the run at the top: a recording's header, or the same of a live run. */
export interface PageHeader {
  procimage: string;
  host: string;
  kernel: string;
  started_at: string;
  policy: Policy;
  /** How the page describes the policy ("process 1234 and the processes it starts: keytime (-k 1), ..."). */
  policy_text: string;
  categories: string[];
  command: string[] | null;
}

export interface PageMeta {
  header: PageHeader;
  /** Records are live (a session), or a recording read back. */
  live: boolean;
  /** Collection has ended (the summary is in). */
  ended: boolean;
  t0: number;
  /** The latest time the model knows of: now in a live run, the last record's in a recording. */
  now: number;
  records: Record<string, number>;
  lost: Record<string, number>;
  /** The kernel's own counts, once collection has ended. */
  kernel: Record<string, { sent: number; delivered: number; lost: number }> | null;
  /** Bucket width of the timeline's grid (ns): views wider than this a pixel are drawn from buckets. */
  bucket_ns: number;
  /** Intervals kept in detail, and the budget. */
  intervals_kept: number;
  intervals_budget: number;
  untracked_processes: number;
  /** Bumped with every record: the page asks again when it has moved. */
  version: number;
}

export interface TimelineQuery { from: number; to: number; px: number; tids?: number[]; wakes?: boolean }
export interface TimelineAnswer {
  lanes: LaneView[];
  markers: Marker[];
  bucket_ns: number;
  /** The kernel function each kernel stack of the view waited in, by its id (LaneView.why). */
  whys: Record<number, string>;
  /** Asked for (wakes): the wake-ups between the view's threads in it (Wakes.view). */
  wakes?: WakeLink[];
}

export interface IntervalAnswer {
  tid: number; tgid: number; comm: string; id: number;
  start: number; end: number; duration_ns: number; kind: string; state: string; cpu: number;
  kstack: readonly string[]; ustack: readonly string[];
  began_before_activation: boolean; ongoing: boolean; switch_in_inferred: boolean; ustack_truncated: boolean;
}

export interface FlameQuery { tids?: number[]; states?: string[]; kind?: 'offcpu' | 'lock' }

export interface SchedAnswer {
  target: { count: number; total: number; max: number | null; hist: number[]; p99: number | null };
  system: { count: number; total: number; max: number | null; hist: number[]; p99: number | null } | null;
  /** Per interval: all targets (or the selected process), and the system. */
  series: { target: Series | null; system: Series | null };
}

export interface SyscallAnswer { rows: SyscallRow[]; system: SyscallRow[]; sequences: SyscallThreadRecord[] }

/** What a model's JSON holds (a self-contained page embeds it). */
export interface PageData {
  meta: Omit<PageMeta, 'version'>;
  timeline: TimelineData;
  stacks: Array<readonly string[]>;
  offcpu: ReturnType<OffCpuSums['all']>;
  processes: ReturnType<Processes['toJSON']>;
  resources: Record<string, Series>;
  sched: ReturnType<SchedSeries['toJSON']>;
  syscalls: ReturnType<SyscallTable['toJSON']>;
  locks: LockRecord[];
  /** Absent in pages written before wake-ups were kept. */
  wakes?: WakesData;
}

const STATE_CODE = (s: string) => (s.length ? s.charCodeAt(0) : 63);

export class PageModel {
  private readonly timeline: Timeline;
  private readonly wakes: Wakes;
  private readonly stacks: StackTable;
  private readonly offcpu: OffCpuSums;
  private readonly procs: Processes;
  private readonly resources: ResourceSeries;
  private readonly sched: SchedSeries;
  private readonly syscalls: SyscallTable;
  private readonly locks: LockTable;
  private readonly counts: Record<string, number>;
  private readonly lost: Record<string, number>;
  private kernel: PageMeta['kernel'] = null;
  private ended = false;
  private last: number;
  version = 0;

  /**
   * header: what to say of the run; t0: when collection started (records' clock); live: a function
   * for the current time on that clock while collecting live.
   */
  constructor(readonly header: PageHeader, readonly t0: number, private readonly clock?: () => number, budget?: number, data?: PageData) {
    this.timeline = data ? Timeline.fromJSON(data.timeline) : new Timeline(budget, t0);
    this.wakes = new Wakes(data?.wakes);
    this.stacks = data ? StackTable.fromJSON(data.stacks) : new StackTable();
    this.offcpu = data ? OffCpuSums.from(data.offcpu) : new OffCpuSums();
    this.procs = data ? Processes.fromJSON(data.processes) : new Processes();
    this.resources = data ? ResourceSeries.fromJSON(data.resources) : new ResourceSeries();
    this.sched = data ? SchedSeries.fromJSON(data.sched) : new SchedSeries();
    this.syscalls = data ? SyscallTable.fromJSON(data.syscalls) : new SyscallTable();
    this.locks = data ? LockTable.fromJSON(data.locks) : new LockTable();
    this.counts = { ...data?.meta.records };
    this.lost = { ...data?.meta.lost };
    this.kernel = data?.meta.kernel ?? null;
    this.ended = data?.meta.ended ?? false;
    this.last = data?.meta.now ?? t0;
  }

  static fromJSON(d: PageData): PageModel {
    return new PageModel(d.meta.header, d.meta.t0, undefined, d.meta.intervals_budget, d);
  }

  observe(r: ProcRecord): void {
    this.version++;
    this.counts[r.type] = (this.counts[r.type] ?? 0) + 1;
    if (r.ts_ns > this.last) this.last = r.ts_ns;
    this.procs.observe(r);
    switch (r.type) {
      case 'oncpu':
      case 'offcpu': {
        const off = r.type === 'offcpu' ? r : undefined;
        const start = r.start_ts_ns ?? this.t0, end = r.end_ts_ns ?? r.ts_ns;
        const kstack = off ? this.stacks.id(off.kstack) : 0, ustack = off ? this.stacks.id(off.ustack) : 0;
        // a lane only for a thread the page keeps (Processes' limits): past them it is counted, not drawn
        if (this.procs.threads.has(r.pid)) this.timeline.add({
          tid: r.pid, start, end, state: off ? STATE_CODE(off.state) : 0, cpu: r.cpu, kstack, ustack,
          flags: (r.began_before_activation ? F_BEFORE : 0) | (r.ongoing ? F_ONGOING : 0) | (r.switch_in_inferred ? F_INFERRED : 0) |
            (off?.ustack_truncated ? F_TRUNCATED : 0),
        });
        if (off && off.duration_ns !== null) this.offcpu.add({ tid: r.pid, tgid: r.tgid, comm: r.comm, state: off.state, kstack, ustack }, off.duration_ns);
        // woken by another target thread (it has a lane): the arrow from its wake-up to this run
        const w = off?.waker;
        if (w && w.target && w.context === 'task' && r.end_ts_ns !== null) this.wakes.add(w.pid, w.wake_ts_ns, r.pid, r.end_ts_ns);
        break;
      }
      case 'offcpu_agg': {
        // short intervals counted in the kernel: in the flame graph by stack, not on the timeline
        const kstack = this.stacks.id(r.kstack), ustack = this.stacks.id(r.ustack);
        this.offcpu.add({ tid: r.pid, tgid: r.tgid, comm: r.comm, state: r.state, kstack, ustack }, r.total_ns);
        break;
      }
      case 'lost': this.lost[r.reason] = (this.lost[r.reason] ?? 0) + r.count; break;
      case 'resource': this.resources.observe(r); break;
      case 'sched': this.sched.observe(r); break;
      case 'syscall_stat': case 'syscall_thread': this.syscalls.observe(r); break;
      case 'lock': this.locks.observe(r); break;
    }
  }

  /** Collection ended: what only the kernel counted. */
  end(kernel: PageMeta['kernel'], durationNs?: number): void {
    this.ended = true;
    this.kernel = kernel;
    if (durationNs !== undefined) this.last = Math.max(this.last, this.t0 + durationNs);
    this.sched.endRound();
    this.version++;
  }

  meta(): PageMeta {
    return {
      header: this.header, live: !!this.clock, ended: this.ended, t0: this.t0,
      now: this.clock && !this.ended ? Math.max(this.last, this.clock()) : this.last,
      records: this.counts, lost: this.lost, kernel: this.kernel, bucket_ns: this.timeline.width,
      intervals_kept: this.timeline.kept, intervals_budget: this.timeline.budget, untracked_processes: this.procs.untracked, version: this.version,
    };
  }

  processes(): { processes: ProcessInfo[]; threads: ThreadInfo[]; lanes: number[] } {
    return { processes: [...this.procs.processes.values()], threads: [...this.procs.threads.values()], lanes: this.timeline.threads() };
  }

  /** The threads of these processes, or these threads (undefined: every one). */
  private tidsOf(tids?: number[]): Set<number> | undefined {
    return tids && new Set(tids);
  }

  timelineView(q: TimelineQuery): TimelineAnswer {
    const lanes = this.timeline.view(q.from, q.to, q.px, q.tids);
    const tids = new Set(lanes.map(l => l.tid));
    const whys: Record<number, string> = {};
    for (const l of lanes) for (const k of l.why) if (k && !(k in whys)) whys[k] = waitedIn(this.stacks.get(k));
    return { lanes, markers: this.procs.markersIn(q.from, q.to, tids), bucket_ns: this.timeline.width, whys,
      ...(q.wakes ? { wakes: this.wakes.view(q.from, q.to, q.tids) } : {}) };
  }

  interval(tid: number, id: number): IntervalAnswer | undefined {
    const d = this.timeline.detail(tid, id);
    if (!d) return undefined;
    const th = this.procs.threads.get(tid);
    return {
      tid, tgid: th?.tgid ?? tid, comm: th?.comm ?? '', id, start: d.start, end: d.end, duration_ns: d.end - d.start,
      kind: KINDS[d.kind], state: d.state ? String.fromCharCode(d.state) : '', cpu: d.cpu,
      kstack: this.stacks.get(d.kstack), ustack: this.stacks.get(d.ustack),
      began_before_activation: !!(d.flags & F_BEFORE), ongoing: !!(d.flags & F_ONGOING), switch_in_inferred: !!(d.flags & F_INFERRED),
      ustack_truncated: !!(d.flags & F_TRUNCATED),
    };
  }

  /** Off-CPU time (or lock wait time) by stack, for these threads and states. */
  flame(q: FlameQuery): FlameNode {
    const tids = this.tidsOf(q.tids);
    if (q.kind === 'lock') {
      return flameTree(this.locks.rows(tids).map(r => ({
        comm: `${r.comm} · ${r.kind}${r.mode ? ` ${r.mode}` : ''} ${r.symbol ?? r.addr}`, kstack: r.kstack ?? [], ustack: r.ustack ?? [], value: r.wait_total_ns,
      })), 'lock wait');
    }
    const states = q.states && new Set(q.states);
    return flameTree(this.offcpu.all().filter(s => (!tids || tids.has(s.tid)) && (!states || states.has(s.state))).map(s => ({
      comm: s.comm, kstack: this.stacks.get(s.kstack), ustack: this.stacks.get(s.ustack), value: s.ns,
    })), 'off CPU');
  }

  /** The series of a process ("p<tgid>"), a thread ("t<tid>"), and the whole system's. */
  resourceSeries(key?: string): { keys: string[]; series: Series | null; system: Series | null } {
    const all = this.resources.series;
    return { keys: [...all.keys()].filter(k => k !== 'system'), series: key ? all.get(key) ?? null : null, system: all.get('system') ?? null };
  }

  schedView(q: { tgid?: number; tids?: number[] }): SchedAnswer {
    const tids = q.tids ?? (q.tgid !== undefined ? this.procs.processes.get(q.tgid)?.threads : undefined);
    const h = this.sched.histogram(tids);
    const sys = this.sched.system;
    this.sched.endRound();
    return {
      target: { ...h, p99: histQuantile(h.hist, 0.99) },
      system: sys ? { count: sys.count, total: sys.total, max: sys.max, hist: sys.hist, p99: histQuantile(sys.hist, 0.99) } : null,
      series: { target: this.sched.series.get(q.tgid !== undefined ? `p${q.tgid}` : 'all') ?? null, system: this.sched.series.get('system') ?? null },
    };
  }

  syscallView(q: { tids?: number[] }): SyscallAnswer {
    const tids = this.tidsOf(q.tids);
    return { rows: this.syscalls.rows({ tids }), system: this.syscalls.rows({ system: true }), sequences: this.syscalls.sequences(tids) };
  }

  lockView(q: { tids?: number[] }): LockRecord[] {
    return this.locks.rows(this.tidsOf(q.tids));
  }

  toJSON(): PageData {
    const { version: _, ...meta } = this.meta();
    return {
      meta, timeline: this.timeline.toJSON(), wakes: this.wakes.toJSON(), stacks: this.stacks.toJSON(), offcpu: this.offcpu.all(), processes: this.procs.toJSON(),
      resources: this.resources.toJSON(), sched: this.sched.toJSON(), syscalls: this.syscalls.toJSON(), locks: this.locks.toJSON(),
    };
  }

  /** What the model holds, roughly: the timeline's arrays (the largest part) and how many of each thing. */
  usage(): { timeline_bytes: number; intervals: number; stacks: number; processes: number; threads: number } {
    return { timeline_bytes: this.timeline.bytes(), intervals: this.timeline.kept, stacks: this.stacks.stacks.length - 1,
      processes: this.procs.processes.size, threads: this.procs.threads.size };
  }
}
