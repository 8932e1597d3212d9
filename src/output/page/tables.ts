// The page's tables: syscalls (count, errors, latency, per thread and summed for a selection, and each
// thread's latest calls) and locks (waits, holds, contention, the longest holder, the stack). Records
// of both are totals since activation: the latest of each (thread, syscall) or (lock, thread) is kept.
import type { LockRecord, SyscallStatRecord, SyscallThreadRecord } from '../../collect/records.js';

const MAX_ROWS = 200_000;

export interface SyscallRow {
  syscall: string;
  nr: number;
  count: number;
  errors: number | null;
  errno: string | null;
  errno_count: number | null;
  total_ns: number | null;
  avg_ns: number | null;
  max_ns: number | null;
  hist: number[] | null;
  threads: number;
}

export class SyscallTable {
  private readonly stats = new Map<string, SyscallStatRecord>(); // `${pid}|${nr}`, system: `s|${nr}`
  private readonly threads = new Map<number, SyscallThreadRecord>();

  observe(r: SyscallStatRecord | SyscallThreadRecord): void {
    if (r.type === 'syscall_thread') {
      if (this.threads.size < MAX_ROWS || this.threads.has(r.pid)) this.threads.set(r.pid, r);
      return;
    }
    const key = r.scope === 'system' ? `s|${r.nr}` : `${r.pid}|${r.nr}`;
    if (this.stats.size < MAX_ROWS || this.stats.has(key)) this.stats.set(key, r);
  }

  /** Rows by syscall for these threads (every target thread if none), or the whole system's. */
  rows(o: { tids?: Set<number>; system?: boolean }): SyscallRow[] {
    const by = new Map<number, SyscallRow & { errnos: Map<string, number> }>();
    for (const r of this.stats.values()) {
      if (o.system ? r.scope !== 'system' : r.scope !== 'thread' || (o.tids && !o.tids.has(r.pid))) continue;
      let row = by.get(r.nr);
      if (!row) {
        by.set(r.nr, row = { syscall: r.syscall, nr: r.nr, count: 0, errors: null, errno: null, errno_count: null, total_ns: null, avg_ns: null,
          max_ns: null, hist: null, threads: 0, errnos: new Map() });
      }
      row.count += r.count;
      row.threads++;
      if (r.errors !== null) row.errors = (row.errors ?? 0) + r.errors;
      if (r.errno && r.errno_count) row.errnos.set(r.errno, (row.errnos.get(r.errno) ?? 0) + r.errno_count);
      if (r.total_ns !== null) row.total_ns = (row.total_ns ?? 0) + r.total_ns;
      if (r.max_ns !== null && (row.max_ns === null || r.max_ns > row.max_ns)) row.max_ns = r.max_ns;
      if (r.hist_log2_ns) {
        row.hist ??= [];
        r.hist_log2_ns.forEach((n, i) => { row!.hist![i] = (row!.hist![i] ?? 0) + n; });
      }
    }
    return [...by.values()].map(({ errnos, ...row }) => {
      const top = [...errnos].sort((a, b) => b[1] - a[1])[0];
      const timed = row.hist ? row.hist.reduce((a, b) => a + b, 0) : 0;
      return { ...row, errno: top?.[0] ?? null, errno_count: top?.[1] ?? null, avg_ns: row.total_ns !== null && timed ? row.total_ns / timed : null };
    }).sort((a, b) => b.count - a.count);
  }

  /** Each of these threads' latest calls (every thread if none). */
  sequences(tids?: Set<number>): SyscallThreadRecord[] {
    return [...this.threads.values()].filter(t => !tids || tids.has(t.pid));
  }

  toJSON(): { stats: SyscallStatRecord[]; threads: SyscallThreadRecord[] } {
    return { stats: [...this.stats.values()], threads: [...this.threads.values()] };
  }

  static fromJSON(d: ReturnType<SyscallTable['toJSON']>): SyscallTable {
    const t = new SyscallTable();
    for (const r of [...d.stats, ...d.threads]) t.observe(r);
    return t;
  }
}

export class LockTable {
  private readonly locks = new Map<string, LockRecord>();

  observe(r: LockRecord): void {
    const key = `${r.source}|${r.kind}|${r.mode}|${r.addr}|${r.pid}`;
    if (this.locks.size < MAX_ROWS || this.locks.has(key)) this.locks.set(key, r);
  }

  /** The (lock, thread) rows of these threads (every one if none), the longest waits first. */
  rows(tids?: Set<number>): LockRecord[] {
    return [...this.locks.values()].filter(r => !tids || tids.has(r.pid)).sort((a, b) => b.wait_total_ns - a.wait_total_ns);
  }

  toJSON(): LockRecord[] {
    return [...this.locks.values()];
  }

  static fromJSON(d: LockRecord[]): LockTable {
    const t = new LockTable();
    for (const r of d) t.observe(r);
    return t;
  }
}
