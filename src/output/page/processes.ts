// The processes and threads the page lists: who forked whom, what each ran, how long it lived and how
// it ended, and each thread's fork, exec and exit as markers for the timeline. Bounded: past the
// limits a process or thread is counted, not kept.
import type { ProcRecord } from '../../collect/records.js';

export interface ThreadInfo {
  tid: number;
  tgid: number;
  comm: string;
  /** When it was created (its fork), or first seen. */
  start: number;
  end: number | null;
  exitCode: number | null;
  signal: string | null;
}

export interface ProcessInfo {
  tgid: number;
  ppid: number | null;
  comm: string;
  filename: string | null;
  argv: string[] | null;
  argvTruncated: boolean;
  start: number;
  exec: number | null;
  end: number | null;
  exitCode: number | null;
  signal: string | null;
  coreDumped: boolean;
  threads: number[];
}

export interface Marker { t: number; tid: number; kind: 'fork' | 'clone' | 'exec' | 'exit'; text: string }

export const MAX_PROCESSES = 20_000;
export const MAX_THREADS = 50_000;
const MAX_MARKERS = 200_000;

export class Processes {
  readonly processes = new Map<number, ProcessInfo>();
  readonly threads = new Map<number, ThreadInfo>();
  markers: Marker[] = [];
  untracked = 0;

  private process(tgid: number, comm: string, t: number): ProcessInfo | undefined {
    let p = this.processes.get(tgid);
    if (!p) {
      if (this.processes.size >= MAX_PROCESSES) { this.untracked++; return undefined; }
      p = { tgid, ppid: null, comm, filename: null, argv: null, argvTruncated: false, start: t, exec: null, end: null, exitCode: null,
        signal: null, coreDumped: false, threads: [] };
      this.processes.set(tgid, p);
    }
    return p;
  }

  private thread(tid: number, tgid: number, comm: string, t: number): ThreadInfo | undefined {
    let th = this.threads.get(tid);
    if (th && th.tgid !== tgid) th = undefined; // a recycled id, or the leader after a non-leader's exec
    if (!th) {
      if (this.threads.size >= MAX_THREADS) return undefined;
      th = { tid, tgid, comm, start: t, end: null, exitCode: null, signal: null };
      this.threads.set(tid, th);
      const p = this.process(tgid, comm, t);
      if (p && !p.threads.includes(tid)) p.threads.push(tid);
    }
    return th;
  }

  private mark(m: Marker): void {
    if (this.markers.length < MAX_MARKERS) this.markers.push(m);
  }

  observe(r: ProcRecord): void {
    if (r.pid === 0 && r.tgid === 0 && r.type !== 'oncpu' && r.type !== 'offcpu') return; // the system's figures, lost counts
    if (r.type === 'module' || r.type === 'lost') return;
    const t = r.type === 'oncpu' || r.type === 'offcpu' ? (r.start_ts_ns ?? r.ts_ns) : r.ts_ns;
    const th = this.thread(r.pid, r.tgid, r.comm, t);
    if (th && r.type !== 'resource') th.comm = r.comm;
    switch (r.type) {
      case 'fork': {
        if (r.thread) {
          const c = this.thread(r.child_pid, r.child_tgid, r.comm, r.child_start_ts_ns);
          if (c) c.start = r.child_start_ts_ns;
        } else {
          const p = this.process(r.child_tgid, r.comm, r.child_start_ts_ns);
          if (p) Object.assign(p, { ppid: r.tgid, start: r.child_start_ts_ns });
          const c = this.thread(r.child_pid, r.child_tgid, r.comm, r.child_start_ts_ns);
          if (c) c.start = r.child_start_ts_ns;
        }
        this.mark({ t: r.ts_ns, tid: r.pid, kind: r.thread ? 'clone' : 'fork', text: r.thread ? `new thread ${r.child_pid}` : `new process ${r.child_tgid}` });
        break;
      }
      case 'exec': {
        const p = this.process(r.tgid, r.comm, r.ts_ns);
        if (p) Object.assign(p, { comm: r.comm, filename: r.filename, argv: r.argv, argvTruncated: r.argv_truncated, exec: r.ts_ns, ppid: r.ppid });
        this.mark({ t: r.ts_ns, tid: r.pid, kind: 'exec', text: r.filename });
        break;
      }
      case 'exit': {
        if (th) Object.assign(th, { end: r.ts_ns, exitCode: r.exit_code, signal: r.signal_name, start: Math.min(th.start, r.start_ts_ns) });
        const p = this.process(r.tgid, r.comm, r.ts_ns);
        if (p && r.process_exit) {
          Object.assign(p, { end: r.ts_ns, exitCode: r.exit_code, signal: r.signal_name, coreDumped: r.core_dumped, ppid: r.ppid,
            start: Math.min(p.start, r.process_start_ts_ns) });
        }
        this.mark({ t: r.ts_ns, tid: r.pid, kind: 'exit', text: r.signal_name ? `killed by ${r.signal_name}` : `exit code ${r.exit_code}` });
        break;
      }
    }
  }

  /** Markers of these threads in [from, to). */
  markersIn(from: number, to: number, tids: Set<number>): Marker[] {
    return this.markers.filter(m => m.t >= from && m.t < to && tids.has(m.tid));
  }

  toJSON(): { processes: ProcessInfo[]; threads: ThreadInfo[]; markers: Marker[]; untracked: number } {
    return { processes: [...this.processes.values()], threads: [...this.threads.values()], markers: this.markers, untracked: this.untracked };
  }

  static fromJSON(d: ReturnType<Processes['toJSON']>): Processes {
    const p = new Processes();
    for (const x of d.processes) p.processes.set(x.tgid, x);
    for (const x of d.threads) p.threads.set(x.tid, x);
    p.markers = d.markers;
    p.untracked = d.untracked;
    return p;
  }
}
