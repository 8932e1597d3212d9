// resource without a BPF task iterator: the same per-task counters, read from /proc. For kernels
// that cannot run bpf/resource.bpf.c (task iterators came in 5.8, bpf_loop in 5.17), or when asked
// (--resource-source proc). Exits are still captured in the kernel by keytime's exit hook, which
// needs neither: a task that ends between two samples is reported from its capture as before.
//
// Per thread: /proc/TGID/task/TID/stat (faults, state, start, the tick-sampled user:system ratio),
// schedstat (se.sum_exec_runtime, the iterator's on-CPU ns exactly), status (context switches, and
// the mm's counters: exact since 6.16, where statm's are not) and, when threads are reported, io.
// Per process: /proc/TGID/stat and io, which the kernel sums over the process's live and dead
// threads itself. What /proc does not show is what the process's dead threads left in signal_struct
// for the other counters (on-CPU ns, switches): this sampler keeps that itself — what a thread that
// left had at its exit capture (or, without one, when last seen) — and, for on-CPU time, never lets
// it fall below what TGID/stat's tick figures imply.
//
// It costs procimage what reading the files costs (two to four small files per thread and two per
// process every interval: several times the iterator's CPU on a big machine, docs/performance.md),
// and the targets nothing. Start times come in ticks (10 ms): docs/ndjson.md says what that changes.
import { INIT_CGROUP_NS, cgroupNamespaceOf, cgroupOf, cgroupUnder } from '../../sys/cgroups.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import type { Clock } from '../clock.js';
import { pi_res_flags } from '../layout.js';
import type { Policy } from '../policy.js';
import { PF_EXITING, PF_KTHREAD, parseIo, parseSchedstat, parseStatus, parseTaskStat, readText, type TaskStat } from './procfs.js';
import { COUNTERS, ZERO, type Counters, type ExitCapture, type Mem, type Sample } from './sample.js';
import type { Sampler } from './sampler.js';
import type { View } from './tracker.js';

export interface ProcSamplerOptions {
  policy: Policy;
  view: View;
  clock: Clock;
  pageSize: number;
  ticksPerSecond: number;
  /** procimage's own process: not a target of "every process" unless -m. */
  selfTgid: number;
  /** -P: a test of the kernel's follow bitmap (pi_follow), made afresh for each read. */
  follows?: () => (tgid: number) => boolean;
  /** Where /proc is (tests give a directory of their own). */
  root?: string;
  /** CLOCK_BOOTTIME - CLOCK_MONOTONIC in ns; by default estimated from /proc/uptime (bootOffsetNs()). */
  bootOffsetNs?: number;
}

/** The counters /proc does not show for a process's dead threads: kept here (see the top). */
type Dead = Pick<Counters, 'oncpu_ns' | 'nvcsw' | 'nivcsw'>;
const DEAD_KEYS = ['oncpu_ns', 'nvcsw', 'nivcsw'] as const;
const IO_KEYS = ['rchar', 'wchar', 'syscr', 'syscw', 'read_bytes', 'write_bytes', 'cancelled_write_bytes'] as const;

interface ProcessState {
  /** The leader's start (pid reuse makes a new process). */
  leaderStart?: number;
  dead: Dead;
  /** Threads listed at the last read, by `tid:start`: what they had then. */
  seen: Map<string, Dead>;
  /** Threads whose exit was captured, by `tid:start`: their last figures. */
  finals: Map<string, Dead>;
  poll: number;
}

interface ThreadRead { sample: Sample; stat: TaskStat; status: Record<string, number> }

/** What one read found of a process: its threads' samples, its own (`group.c` still to fill) and files. */
interface ProcessRead {
  group: Sample;
  threads: ThreadRead[];
  /** The process's stat and io (not read for -p). */
  whole?: { stat: TaskStat; io: Record<string, number>; ts: number };
}

const deadPart = (c: Counters): Dead => ({ oncpu_ns: c.oncpu_ns, nvcsw: c.nvcsw, nivcsw: c.nivcsw });

/** The numeric entries of a /proc directory: pids, or a process's thread ids. */
function ids(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const n of names) {
    const id = Number(n);
    if (Number.isInteger(id) && id > 0) out.push(id);
  }
  return out;
}

/**
 * CLOCK_BOOTTIME - CLOCK_MONOTONIC: what /proc's start times (boot-based ticks) need to become the
 * kernel's task->start_time (monotonic, as bpf_ktime_get_ns() and the exit captures give it). The two
 * clocks are equal until the machine first suspends (boot time never runs behind). /proc/uptime is
 * boot time truncated to 10 ms, so the estimate lies up to 10 ms below the true offset: at or below
 * 0 the offset is taken as 0 (no suspend), else as the middle of its 10 ms.
 */
export function bootOffsetNs(uptime = () => readFileSync('/proc/uptime', 'latin1'), monotonic = () => Number(process.hrtime.bigint())): number {
  const up = Math.round(Number(uptime().split(' ')[0]) * 1e9);
  const est = up - monotonic();
  return est <= 0 ? 0 : est + 5e6;
}

/** The mm's counters from a status file (kB there, pages here); undefined without an mm. */
function memOf(st: Record<string, number>, page: number): Mem | undefined {
  if (st.RssAnon === undefined || st.VmSize === undefined) return undefined;
  return {
    file_pages: (st.RssFile ?? 0) / page, anon_pages: st.RssAnon / page, shmem_pages: (st.RssShmem ?? 0) / page,
    swap_pages: (st.VmSwap ?? 0) / page, vm_pages: st.VmSize / page, hiwater_rss_pages: (st.VmHWM ?? 0) / page,
  };
}

const exited = (s: TaskStat) => s.state === 'Z' || s.state === 'X';

export class ProcSampler implements Sampler {
  readonly source = 'proc' as const;
  readonly startResolutionNs: number;
  private readonly root: string;
  private readonly tickNs: number;
  private readonly bootNs: number;
  private readonly epoch: number;
  private readonly schedstat: boolean;
  /** Whether process figures are wanted (not for -p/-c): only then is the dead threads' part kept. */
  private readonly processes: boolean;
  /** Every-process mode: fewer files per thread (readThreadLight). */
  private readonly light: boolean;
  /** pid -> its start as this sampler reports it, so a capture and a listing of one task agree. */
  private readonly starts = new Map<number, { ticks: number; ns: number; poll: number }>();
  private readonly state = new Map<number, ProcessState>();
  private polls = 0;
  /** -p: the thread's process, found once. */
  private tgidOfPid: number | undefined;

  constructor(private readonly o: ProcSamplerOptions) {
    this.root = o.root ?? '/proc';
    this.tickNs = 1e9 / o.ticksPerSecond;
    this.startResolutionNs = 2 * this.tickNs;
    this.bootNs = o.bootOffsetNs ?? bootOffsetNs();
    this.epoch = Number(o.clock.epochNs);
    // no schedstat without CONFIG_SCHED_INFO: on-CPU time then comes from stat's ticks
    this.schedstat = existsSync(`${this.root}/self/schedstat`);
    this.processes = o.view !== 'threads';
    this.light = o.view === 'processes' && this.schedstat;
  }

  read(takeExits: () => ExitCapture[]): { samples: Sample[]; exits: ExitCapture[] } {
    this.polls++;
    const found: ProcessRead[] = [];
    const t = this.o.policy.target;
    switch (t.kind) {
      case 'cpu':
        break;
      case 'pid': {
        this.tgidOfPid ??= parseStatus(readText(`${this.root}/${t.pid}/status`) ?? '').Tgid;
        if (this.tgidOfPid !== undefined) this.readProcess(this.tgidOfPid, [t.pid], found);
        break;
      }
      case 'tgid': {
        const followed = this.o.follows?.() ?? ((tgid: number) => tgid === t.tgid);
        for (const tgid of ids(this.root)) if (followed(tgid)) this.readProcess(tgid, undefined, found);
        break;
      }
      case 'cgroup': case 'containers': {
        // the processes whose leader is in it now (a thread moved alone is not split off here)
        const member = (tgid: number) => {
          if (t.kind === 'containers') { const ns = cgroupNamespaceOf(tgid); return ns !== undefined && ns !== INIT_CGROUP_NS; }
          const cg = cgroupOf(tgid);
          return cg !== undefined && cgroupUnder(cg, t.path);
        };
        for (const tgid of ids(this.root)) if ((tgid !== this.o.selfTgid || this.o.policy.myproc) && member(tgid)) this.readProcess(tgid, undefined, found);
        break;
      }
      case 'all':
        for (const tgid of ids(this.root)) {
          if (tgid !== this.o.selfTgid || this.o.policy.myproc) this.readProcess(tgid, undefined, found);
        }
        break;
    }
    // The captures after the files, as the iterator takes them after its walk: a thread's capture is
    // made before the kernel unlists it, so one these files no longer show is captured by now, and
    // its last figures are known before it is counted among the dead.
    const exits = this.adopt(takeExits());
    const samples: Sample[] = t.kind === 'cpu' ? [this.idle(t.cpu)] : [];
    for (const p of found) {
      if (p.whole) this.fillProcess(p.group, p.threads, p.whole.stat, p.whole.io);
      for (const th of p.threads) samples.push(th.sample);
      samples.push(p.group);
    }
    for (const [pid, e] of this.starts) if (e.poll < this.polls - 1) this.starts.delete(pid);
    for (const [tgid, s] of this.state) if (s.poll < this.polls - 1) this.state.delete(tgid);
    return { samples, exits };
  }

  close(): void {
    this.starts.clear();
    this.state.clear();
  }

  /** A -c target: the idle task, which /proc does not list. Its CPU time comes from /proc/stat (index.ts). */
  private idle(cpu: number): Sample {
    return { kind: 'thread', pid: 0, tgid: 0, flags: pi_res_flags.PI_RES_F_KTHREAD, ts: this.o.clock.now(), start: -this.epoch,
      comm: `swapper/${cpu}`, c: { ...ZERO } };
  }

  /** The start a listed task is reported with: the one already given for it, if any (a capture's is exact). */
  private listedStart(pid: number, ticks: number): number {
    const e = this.starts.get(pid);
    if (e && Math.abs(e.ticks - ticks) <= 2) {
      e.poll = this.polls;
      return e.ns;
    }
    // boot-based ticks to monotonic ns since the clock's epoch: the start of the tick it began in
    const ns = ticks * this.tickNs - this.bootNs - this.epoch;
    this.starts.set(pid, { ticks, ns, poll: this.polls });
    return ns;
  }

  /** The start an exit capture is reported with: a listed task's, so that the tracker sees one task. */
  private capturedStart(pid: number, ns: number): number {
    const ticks = Math.floor((ns + this.epoch + this.bootNs) / this.tickNs);
    const e = this.starts.get(pid);
    // a pid is reused only after the kernel has cycled through pid_max: the same pid within 2 ticks is the same task
    if (e && Math.abs(e.ticks - ticks) <= 2) {
      e.poll = this.polls;
      return e.ns;
    }
    this.starts.set(pid, { ticks, ns, poll: this.polls });
    return ns;
  }

  private processState(tgid: number): ProcessState {
    let s = this.state.get(tgid);
    if (!s) this.state.set(tgid, s = { dead: { oncpu_ns: 0, nvcsw: 0, nivcsw: 0 }, seen: new Map(), finals: new Map(), poll: this.polls });
    s.poll = this.polls;
    return s;
  }

  private adopt(exits: ExitCapture[]): ExitCapture[] {
    return exits.map(x => {
      const thread: Sample = { ...x.thread, start: this.capturedStart(x.thread.pid, x.thread.start) };
      if (!x.group) {
        if (this.processes) this.processState(thread.tgid).finals.set(`${thread.pid}:${thread.start}`, deadPart(thread.c));
        return { thread };
      }
      // the process's last figures, the kernel's own: nothing more to keep for it
      this.state.delete(thread.tgid);
      return { thread, group: { ...x.group, start: this.capturedStart(x.group.pid, x.group.start) } };
    });
  }

  private readThread(tgid: number, tid: number): ThreadRead | undefined {
    const dir = `${this.root}/${tgid}/task/${tid}`;
    const ts = this.o.clock.now();
    if (this.light) return this.readThreadLight(dir, tgid, tid, ts);
    const statText = readText(`${dir}/stat`), statusText = readText(`${dir}/status`);
    const sched = this.schedstat ? readText(`${dir}/schedstat`) : '';
    const ioText = this.o.view === 'processes' ? '' : readText(`${dir}/io`);
    if (statText === undefined || statusText === undefined || sched === undefined || ioText === undefined) return undefined;
    const stat = parseTaskStat(statText), status = parseStatus(statusText);
    const c: Counters = {
      ...ZERO,
      oncpu_ns: this.schedstat ? parseSchedstat(sched) : (stat.utime + stat.stime) * this.tickNs,
      utime_ns: stat.utime * this.tickNs, stime_ns: stat.stime * this.tickNs,
      nvcsw: status.voluntary_ctxt_switches ?? 0, nivcsw: status.nonvoluntary_ctxt_switches ?? 0,
      min_flt: stat.minflt, maj_flt: stat.majflt,
    };
    if (ioText) {
      const io = parseIo(ioText);
      for (const k of IO_KEYS) c[k] = io[k] ?? 0;
    }
    let flags = 0;
    if (stat.flags & PF_KTHREAD) flags |= pi_res_flags.PI_RES_F_KTHREAD;
    if (exited(stat)) flags |= pi_res_flags.PI_RES_F_EXITED;
    const sample: Sample = { kind: 'thread', pid: tid, tgid, flags, ts, start: this.listedStart(tid, stat.startTicks), comm: stat.comm, c };
    return { sample, stat, status };
  }

  /**
   * Every-process mode reports processes only, whose faults, bytes and CPU split come from TGID's
   * own files: of a thread only its on-CPU ns and switches are needed (schedstat, status), a third
   * fewer files. Its start is its process's (set in readProcess): only the process is reported.
   */
  private readThreadLight(dir: string, tgid: number, tid: number, ts: number): ThreadRead | undefined {
    const statusText = readText(`${dir}/status`), sched = readText(`${dir}/schedstat`);
    if (statusText === undefined || sched === undefined) return undefined;
    const status = parseStatus(statusText);
    const state = /^State:\s+(\S)/m.exec(statusText)?.[1] ?? '?';
    const stat: TaskStat = { comm: '', state, flags: 0, minflt: 0, majflt: 0, utime: 0, stime: 0, threads: 0, startTicks: NaN, processor: NaN };
    const c: Counters = { ...ZERO, oncpu_ns: parseSchedstat(sched), nvcsw: status.voluntary_ctxt_switches ?? 0,
      nivcsw: status.nonvoluntary_ctxt_switches ?? 0 };
    const flags = exited(stat) ? pi_res_flags.PI_RES_F_EXITED : 0;
    return { sample: { kind: 'thread', pid: tid, tgid, flags, ts, start: NaN, comm: '', c }, stat, status };
  }

  /** One process's files: each thread's listed (or asked for), and the process's own. */
  private readProcess(tgid: number, only: number[] | undefined, out: ProcessRead[]): void {
    // the process's own files before its threads' (see fillProcess); -p uses only the process's
    // memory, and skips them
    let whole: { stat: TaskStat; io: Record<string, number>; ts: number } | undefined;
    if (this.processes) {
      const ts = this.o.clock.now();
      const statText = readText(`${this.root}/${tgid}/stat`), ioText = readText(`${this.root}/${tgid}/io`);
      if (statText === undefined || ioText === undefined) return; // it ended meanwhile
      whole = { stat: parseTaskStat(statText), io: parseIo(ioText), ts };
    }
    // the leader first: its status has the process's memory unless it has ended before the others
    const tids = (only ?? ids(`${this.root}/${tgid}/task`)).sort((a, b) => (a === tgid ? -1 : b === tgid ? 1 : a - b));
    const threads: ThreadRead[] = [];
    for (const tid of tids) {
      const t = this.readThread(tgid, tid);
      if (t) threads.push(t);
    }
    if (threads.length === 0) return; // it ended meanwhile
    let mem: Mem | undefined;
    for (const t of threads) if ((mem = memOf(t.status, this.o.pageSize))) break;
    const first = threads[0];
    const group: Sample = { kind: 'group', pid: tgid, tgid, flags: 0, ts: whole?.ts ?? first.sample.ts, start: first.sample.start,
      comm: first.sample.comm, c: { ...ZERO }, mem };
    if (mem) group.flags |= pi_res_flags.PI_RES_F_MEM;
    if (first.sample.flags & pi_res_flags.PI_RES_F_KTHREAD) group.flags |= pi_res_flags.PI_RES_F_KTHREAD;
    out.push({ group, threads, whole });
  }

  /**
   * The process's counters (`group.c`) so that, added to its threads' as the tracker adds them, they
   * give the process's figures: the kernel's own sums from TGID/stat and io for faults and bytes,
   * and for on-CPU time and switches its threads' plus the dead part kept here. TGID/stat was read
   * before the threads: what it says of the dead threads' CPU time then errs low, never high (threads
   * only add to their counters meanwhile), so the floor below never overtakes the truth however long
   * procimage is kept off the CPU between the reads.
   */
  private fillProcess(group: Sample, threads: ThreadRead[], whole: TaskStat, io: Record<string, number>): void {
    // the leader's start and comm: TGID/stat is the leader's (one that ended early stays listed, a zombie)
    group.start = this.listedStart(group.tgid, whole.startTicks);
    group.comm = whole.comm;
    if (whole.flags & PF_KTHREAD) group.flags |= pi_res_flags.PI_RES_F_KTHREAD;
    if (this.light) for (const t of threads) t.sample.start = group.start;
    if (threads.every(t => exited(t.stat) || (t.stat.flags & PF_EXITING))) group.flags |= pi_res_flags.PI_RES_F_EXITED;

    const s = this.processState(group.tgid);
    if (s.leaderStart !== undefined && s.leaderStart !== group.start) {
      s.dead = { oncpu_ns: 0, nvcsw: 0, nivcsw: 0 }; // a new process under a reused pid
      s.seen.clear();
      s.finals.clear();
    }
    s.leaderStart = group.start;
    const listed = new Set(threads.map(t => `${t.sample.pid}:${t.sample.start}`));
    const fold = (d: Dead) => { for (const k of DEAD_KEYS) s.dead[k] += d[k]; };
    // threads gone since the last read: into the dead part, with their exit capture's figures if any
    for (const [k, last] of s.seen) if (!listed.has(k)) { fold(s.finals.get(k) ?? last); s.seen.delete(k); s.finals.delete(k); }
    for (const [k, fin] of s.finals) if (!listed.has(k)) { fold(fin); s.finals.delete(k); }
    for (const t of threads) s.seen.set(`${t.sample.pid}:${t.sample.start}`, deadPart(t.sample.c));

    const sum = threads.reduce((acc, t) => { for (const k of COUNTERS) acc[k] += t.sample.c[k]; return acc; }, { ...ZERO });
    // TGID/stat's utime + stime is the process's precise on-CPU time (dead threads included) cut to
    // ticks (< 2 ticks lost): what it says beyond the listed threads' the dead ones must have had —
    // this catches threads that ended unseen and uncaptured (every-process mode captures only the
    // last exit of a process), and what ended before activation
    s.dead.oncpu_ns = Math.max(s.dead.oncpu_ns, (whole.utime + whole.stime) * this.tickNs - sum.oncpu_ns);

    const total: Counters = {
      ...ZERO,
      oncpu_ns: s.dead.oncpu_ns + sum.oncpu_ns, nvcsw: s.dead.nvcsw + sum.nvcsw, nivcsw: s.dead.nivcsw + sum.nivcsw,
      utime_ns: whole.utime * this.tickNs, stime_ns: whole.stime * this.tickNs, min_flt: whole.minflt, maj_flt: whole.majflt,
    };
    for (const k of IO_KEYS) total[k] = io[k] ?? 0;
    // not "the dead threads' counters" as the iterator's: what makes the tracker's sum the process's
    // (user and system time may come out below zero here, since each of /proc's figures is cut to ticks)
    for (const k of COUNTERS) group.c[k] = total[k] - sum[k];
  }
}
