// The processes a session saw: what each ran and how it ended, built from the lifecycle records, so
// the summary can say it at a glance (and later outputs can name a pid after it is gone).
import type { ProcRecord } from '../collect/records.js';

export interface ProcessInfo {
  tgid: number;
  comm: string;
  ppid?: number;
  forked_from?: number; // the process that forked it, when seen
  filename?: string;
  argv?: string[];
  exec_ts_ns?: number;
  exit_ts_ns?: number;
  exit_code?: number | null;
  signal_name?: string | null;
  core_dumped?: boolean;
  lifetime_ns?: number;
  threads: number; // threads seen exiting
}

/** Processes kept in detail: enough for any summary a person reads, bounded for a fork storm. */
export const PROCESS_TABLE_LIMIT = 1000;

export class ProcessTable {
  private readonly byTgid = new Map<number, ProcessInfo>();
  /** Processes seen after the table was full: counted, not kept. */
  untracked = 0;
  private readonly untrackedTgids = new Set<number>();

  constructor(private readonly limit = PROCESS_TABLE_LIMIT) {}

  private get(tgid: number, comm: string): ProcessInfo {
    let p = this.byTgid.get(tgid);
    if (!p) {
      p = { tgid, comm, threads: 0 };
      if (this.byTgid.size < this.limit) this.byTgid.set(tgid, p);
      else if (!this.untrackedTgids.has(tgid)) {
        // remember only recent ones, so one process is not counted once per record
        if (this.untrackedTgids.size >= this.limit) this.untrackedTgids.clear();
        this.untrackedTgids.add(tgid);
        this.untracked++;
      }
    }
    return p;
  }

  observe(r: ProcRecord): void {
    switch (r.type) {
      case 'fork':
        if (!r.thread) Object.assign(this.get(r.child_tgid, r.comm), { ppid: r.tgid, forked_from: r.tgid });
        break;
      case 'exec': {
        const p = this.get(r.tgid, r.comm);
        Object.assign(p, { comm: r.comm, filename: r.filename, argv: r.argv, exec_ts_ns: r.ts_ns, ppid: r.ppid });
        break;
      }
      case 'exit': {
        const p = this.get(r.tgid, r.comm);
        p.threads++;
        if (r.process_exit) {
          Object.assign(p, { comm: r.comm, exit_ts_ns: r.ts_ns, exit_code: r.exit_code, signal_name: r.signal_name, core_dumped: r.core_dumped,
            lifetime_ns: r.ts_ns - r.process_start_ts_ns, ppid: r.ppid });
        }
        break;
      }
    }
  }

  all(): ProcessInfo[] {
    return [...this.byTgid.values()];
  }
}
