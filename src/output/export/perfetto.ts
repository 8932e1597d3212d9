// --perfetto OUT: the recording as a Chrome/Perfetto Trace Event JSON file, which the Perfetto UI
// (ui.perfetto.dev, or its trace_processor) opens. A process track per process and a thread track per
// thread; each on-CPU and off-CPU interval a slice (off-CPU slices named by state and the kernel
// function waited in, their stacks in the args); fork, exec and exit as instants on the thread, with a
// flow from a fork to the child's first slice; counter tracks for the resource figures, scheduling
// delay and lost records; a flow from a waker's slice to the wakee's next slice for each wake-up
// between targets. Written as records come, in one pass: what is kept is per thread or process
// (names, the flows still open, the last scheduling totals), never per record.
//
// Times are absolute CLOCK_MONOTONIC, in µs as the format wants them. Perfetto turns a fractional µs
// into ns by multiplying and truncating, which loses 1 ns for some values and would make slices that
// touch overlap by 1 ns (and nest): each instant is written so that Perfetto's reading of it is its
// exact ns (see us()).
import { basename } from 'node:path';
import type { ExecRecord, ExitRecord, ForkRecord, OffCpuRecord, OnCpuRecord, ProcRecord, ResourceRecord, ResourceSystemRecord, SchedRecord, Waker } from '../../collect/records.js';
import { wakerName } from '../../model/wakers.js';
import { describePolicy } from '../../collect/policy.js';
import type { SessionSummary } from '../../model/session.js';
import { VERSION } from '../../sys/version.js';
import { describeExit, waitedIn } from '../text.js';
import { OutFile, type ExportContext, type Exporter } from './exporter.js';

/** The pseudo-process the whole system's counters go on (pid 0 is the idle tasks': the system at rest). */
const SYSTEM_PID = 0;

/**
 * ns as the µs decimal Perfetto reads back as exactly those ns: "1234.567", or, where the double
 * nearest to that times 1000 falls below, half a ns more ("1234.5675"), which it truncates to them.
 * Other readers see the value, or half a ns more.
 */
export function us(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  const s = `${neg ? '-' : ''}${a / 1000n}.${(a % 1000n).toString().padStart(3, '0')}`;
  return Math.trunc(Number(s) * 1000) === Number(ns) ? s : `${s}5`;
}

const q = JSON.stringify;

export class PerfettoExport implements Exporter {
  private readonly out: OutFile;
  private events = 0;
  private slices = 0;
  /** The latest name of each process and thread seen: written as metadata at the end. */
  private readonly processNames = new Map<number, string>();
  private readonly threadNames = new Map<number, { tgid: number; comm: string }>();
  /** Flows from a fork waiting for the child's first slice, by the child's thread id. */
  private readonly flowsTo = new Map<number, number>();
  private flowSeq = 0;
  /** Each thread's last scheduling-delay totals (records are cumulative), and this round's sums by process. */
  private readonly schedLast = new Map<string, { count: number; total: number }>();
  private schedRound: { ts: number; byPid: Map<number, { count: number; total: number }> } | undefined;
  private lostTotal = 0;
  private lastTs = 0;

  constructor(file: string, private readonly ctx: ExportContext) {
    this.out = new OutFile(file);
    this.out.write('{"traceEvents":[\n');
    this.processNames.set(SYSTEM_PID, 'whole system (procimage)');
    this.counter(SYSTEM_PID, 0, 'lost records', { total: 0 });
  }

  get path(): string { return this.out.path; }

  private ts(rel: number): string {
    return us(this.ctx.clock.toAbsolute(rel));
  }

  private emit(e: string): void {
    this.out.write(this.events++ ? `,\n${e}` : e);
  }

  private counter(pid: number, rel: number, name: string, values: Record<string, number | null>): void {
    const args = Object.entries(values).filter(([, v]) => v !== null && Number.isFinite(v)).map(([k, v]) => `${q(k)}:${v}`);
    if (args.length) this.emit(`{"ph":"C","pid":${pid},"tid":${pid},"ts":${this.ts(rel)},"name":${q(name)},"args":{${args.join(',')}}}`);
  }

  /** A slice on a thread's track; a zero-length one is an instant. flow: the bind id of a flow it starts. */
  private slice(r: { pid: number; tgid: number }, cat: string, name: string, start: number, durNs: number, args: Record<string, unknown>,
    flowOut?: number): void {
    let flow = flowOut !== undefined ? `,"bind_id":${flowOut},"flow_out":true` : '';
    const into = this.flowsTo.get(r.pid);
    if (into !== undefined && cat !== 'lifecycle') {
      this.flowsTo.delete(r.pid);
      flow += `,"bind_id":${into},"flow_in":true`;
    }
    this.emit(`{"ph":"X","cat":${q(cat)},"name":${q(name)},"pid":${r.tgid},"tid":${r.pid},"ts":${this.ts(start)},` +
      `"dur":${us(BigInt(durNs))},"args":${q(args)}${flow}}`);
    if (cat !== 'lifecycle') this.slices++;
  }

  record(r: ProcRecord): void {
    if (r.ts_ns > this.lastTs) this.lastTs = r.ts_ns;
    if (r.pid !== 0 || r.type === 'oncpu' || r.type === 'offcpu') {
      this.threadNames.set(r.pid, { tgid: r.tgid, comm: r.comm });
      if (r.pid === r.tgid || !this.processNames.has(r.tgid)) this.processNames.set(r.tgid, r.comm);
    }
    switch (r.type) {
      case 'oncpu': case 'offcpu': return this.interval(r);
      case 'fork': return this.fork(r);
      case 'exec': return this.exec(r);
      case 'exit': return this.exit(r);
      case 'resource': return r.scope === 'system' ? this.systemResource(r) : this.resource(r);
      case 'sched': return this.sched(r);
      case 'lost':
        this.lostTotal += r.count;
        return this.counter(SYSTEM_PID, r.ts_ns, 'lost records', { total: this.lostTotal });
    }
  }

  private interval(r: OnCpuRecord | OffCpuRecord): void {
    // one that began before collection is drawn from the start of collection; one still going at the
    // end, to its end (the record's ts_ns): both marked in the args
    const start = r.start_ts_ns ?? 0, end = r.end_ts_ns ?? r.ts_ns;
    if (end < start) return;
    const common = { cpu: r.cpu, duration_ns: r.duration_ns, began_before_activation: r.began_before_activation, ongoing: r.ongoing,
      switch_in_inferred: r.switch_in_inferred };
    if (r.type === 'oncpu') return this.slice(r, 'oncpu', `running on CPU ${r.cpu}`, start, end - start, common);
    const why = waitedIn(r.kstack);
    const name = r.state === '?' ? 'off CPU (since before collection)' : `${r.state_name}${why ? ` · ${why}` : ''}`;
    const w = r.waker;
    this.slice(r, 'offcpu', name, start, end - start, {
      state: r.state, state_name: r.state_name, ...common, cpu_in: r.cpu_in,
      kstack: r.kstack, ustack: r.ustack, ...(r.ustack_truncated ? { ustack_truncated: true } : {}),
      ...(w ? { woken_by: wakerName(w), waker_pid: w.pid, waker_tgid: w.tgid, wake_delay_ns: w.wake_delay_ns } : {}),
    });
    if (w?.target && w.context === 'task' && r.end_ts_ns !== null) this.wakeFlow(r, w, r.end_ts_ns);
  }

  /**
   * A flow from the waker's slice at the wake-up (its on-CPU slice, with -k 1) to the wakee's next
   * slice (the one that begins when it runs again): legacy flow events, which bind to those slices by
   * time ('s' to the slice around it, 'f' to the next one), whenever the waker's slice is written.
   */
  private wakeFlow(r: OffCpuRecord, w: Waker, end: number): void {
    const id = ++this.flowSeq;
    this.emit(`{"ph":"s","cat":"wakeup","name":"wake-up","id":${id},"pid":${w.tgid},"tid":${w.pid},"ts":${this.ts(w.wake_ts_ns)}}`);
    this.emit(`{"ph":"f","cat":"wakeup","name":"wake-up","id":${id},"pid":${r.tgid},"tid":${r.pid},"ts":${this.ts(end)}}`);
  }

  private fork(r: ForkRecord): void {
    const id = ++this.flowSeq;
    this.flowsTo.set(r.child_pid, id);
    this.slice(r, 'lifecycle', r.thread ? `clone: thread ${r.child_pid}` : `fork: process ${r.child_tgid}`, r.ts_ns, 0,
      { child_pid: r.child_pid, child_tgid: r.child_tgid, thread: r.thread }, id);
  }

  private exec(r: ExecRecord): void {
    this.processNames.set(r.tgid, r.comm);
    this.slice(r, 'lifecycle', `exec ${basename(r.filename)}`, r.ts_ns, 0,
      { filename: r.filename, argv: r.argv, ...(r.argv_truncated ? { argv_truncated: true } : {}), ppid: r.ppid, old_pid: r.old_pid });
  }

  private exit(r: ExitRecord): void {
    this.slice(r, 'lifecycle', `${r.process_exit ? 'process ' : ''}${describeExit(r)}`, r.ts_ns, 0, {
      exit_code: r.exit_code, signal: r.signal_name, core_dumped: r.core_dumped, process_exit: r.process_exit,
      lifetime_ns: r.lifetime_ns, oncpu_ns: r.oncpu_ns,
    });
  }

  /** Per process (or per thread with -p and -c, whose records are the thread's): counters on its process track. */
  private resource(r: ResourceRecord): void {
    const kind = this.ctx.header.policy.target.kind;
    if (r.scope === 'thread' && kind !== 'pid' && kind !== 'cpu') return; // its process's record has the figures
    const perSec = (n: number) => (r.interval_ns > 0 ? n / (r.interval_ns / 1e9) : null);
    this.counter(r.tgid, r.ts_ns, 'CPU %', { user: r.user_pct, system: r.system_pct });
    this.counter(r.tgid, r.ts_ns, 'RSS bytes', { anon: r.rss_anon_bytes, file: r.rss_file_bytes, shmem: r.rss_shmem_bytes });
    this.counter(r.tgid, r.ts_ns, 'I/O bytes/s', { read: perSec(r.io_read_bytes), write: perSec(r.io_write_bytes) });
    this.counter(r.tgid, r.ts_ns, 'storage bytes/s', { read: perSec(r.read_bytes), write: perSec(r.write_bytes) });
    this.counter(r.tgid, r.ts_ns, 'faults/s', { minor: perSec(r.minor_faults), major: perSec(r.major_faults) });
    this.counter(r.tgid, r.ts_ns, 'context switches/s', { voluntary: perSec(r.voluntary_switches), involuntary: perSec(r.involuntary_switches) });
  }

  private systemResource(r: ResourceSystemRecord): void {
    const perSec = (n: number) => (r.interval_ns > 0 ? n / (r.interval_ns / 1e9) : null);
    this.counter(SYSTEM_PID, r.ts_ns, 'CPU %', { user: r.user_pct, system: r.system_pct, iowait: r.iowait_pct, steal: r.steal_pct });
    this.counter(SYSTEM_PID, r.ts_ns, 'memory bytes', { used: r.mem_used_bytes, anon: r.mem_anon_bytes, file: r.mem_file_bytes, shmem: r.mem_shmem_bytes });
    this.counter(SYSTEM_PID, r.ts_ns, 'storage bytes/s', { read: perSec(r.read_bytes), write: perSec(r.write_bytes) });
    this.counter(SYSTEM_PID, r.ts_ns, 'faults/s', { minor: perSec(r.minor_faults), major: perSec(r.major_faults) });
    this.counter(SYSTEM_PID, r.ts_ns, 'context switches/s', { all: perSec(r.context_switches) });
  }

  /**
   * Scheduling delay: records are totals since activation, per thread, all of a poll at one ts. The
   * counter is each process's average delay over the interval: what its threads' totals grew by.
   */
  private sched(r: SchedRecord): void {
    if (this.schedRound && this.schedRound.ts !== r.ts_ns) this.endSchedRound();
    this.schedRound ??= { ts: r.ts_ns, byPid: new Map() };
    const key = r.scope === 'system' ? 'system' : `${r.pid}:${r.cpu ?? ''}`;
    const last = this.schedLast.get(key) ?? { count: 0, total: 0 };
    this.schedLast.set(key, { count: r.count, total: r.total_ns });
    const pid = r.scope === 'system' ? SYSTEM_PID : r.tgid;
    const sum = this.schedRound.byPid.get(pid) ?? { count: 0, total: 0 };
    sum.count += r.count - last.count;
    sum.total += r.total_ns - last.total;
    this.schedRound.byPid.set(pid, sum);
  }

  private endSchedRound(): void {
    const round = this.schedRound;
    this.schedRound = undefined;
    if (!round) return;
    for (const [pid, s] of round.byPid) {
      this.counter(pid, round.ts, 'scheduling delay µs', { avg: s.count > 0 ? s.total / s.count / 1e3 : 0, delays: s.count });
    }
  }

  async finish(summary: SessionSummary | undefined): Promise<string> {
    this.endSchedRound();
    this.counter(SYSTEM_PID, summary?.duration_ns ?? this.lastTs, 'lost records', { total: this.lostTotal });
    for (const [pid, name] of this.processNames) this.emit(`{"ph":"M","name":"process_name","pid":${pid},"tid":${pid},"args":{"name":${q(name)}}}`);
    for (const [tid, t] of this.threadNames) {
      this.emit(`{"ph":"M","name":"thread_name","pid":${t.tgid},"tid":${tid},"args":{"name":${q(t.comm)}}}`);
    }
    const h = this.ctx.header;
    this.out.write(`\n],"metadata":${q({
      'procimage-version': VERSION, 'recorded-by': `procimage ${h.procimage}`, host: h.host, kernel: h.kernel, 'started-at': h.started_at,
      policy: describePolicy(h.policy), ...(h.command ? { command: h.command.join(' ') } : {}), clock: 'CLOCK_MONOTONIC (ts in µs)',
    })}}\n`);
    this.out.close();
    return `wrote ${this.out.path}: Trace Event JSON for the Perfetto UI (${this.slices} slices, ${this.threadNames.size} threads, ` +
      `${this.processNames.size - 1} processes)`;
  }
}
