// Text tables of the syscall category, every --interval: what each target thread is doing (its
// last N syscalls, the one in progress), and its busiest syscalls beside the whole system's.
import type { SyscallStatRecord, SyscallThreadRecord } from '../../collect/records.js';
import { duration, quantileText } from '../format.js';
import { registerTable, renderTable, type Align } from '../tables.js';

/** Rows shown per table; the rest is counted in a last line. */
const MAX_ROWS = 20;
const SYSTEM_ROWS = 10;

/** The 99th percentile from the kernel's histogram (format.ts, quantileText); '' without one. */
function p99(hist: number[] | null | undefined, max: number | null | undefined): string {
  return quantileText(hist, 0.99, max) ?? '';
}

const more = (n: number, what: string) => (n > 0 ? [`… and ${n} more ${what}`] : []);

registerTable('syscall_thread', recs => {
  const rows = (recs as SyscallThreadRecord[]).slice().sort((a, b) => b.calls - a.calls);
  const cgroups = rows.some(r => typeof r.cgroup === 'string'); // a cgroup target: each thread's
  return [
    ...renderTable(['PID', 'TGID', 'COMM', ...(cgroups ? ['CGROUP'] : []), 'CALLS', 'IN SYSCALL', 'LAST (oldest first)'],
      rows.slice(0, MAX_ROWS).map(r => [String(r.pid), String(r.tgid), r.comm, ...(cgroups ? [r.cgroup ?? ''] : []), String(r.calls),
        r.in_syscall ? `${r.in_syscall} ${duration(r.in_syscall_ns ?? 0)}` : '-', r.last.join(' ')]),
      ['r', 'r', 'l', ...(cgroups ? ['l' as const] : []), 'r', 'l', 'l']),
    ...more(rows.length - MAX_ROWS, 'threads'),
  ];
});

registerTable('syscall_stat', recs => {
  const all = recs as SyscallStatRecord[];
  const mine = all.filter(r => r.scope === 'thread').sort((a, b) => b.count - a.count);
  const sys = all.filter(r => r.scope === 'system').sort((a, b) => b.count - a.count).slice(0, SYSTEM_ROWS);
  const cgroups = mine.some(r => typeof r.cgroup === 'string'); // a cgroup target: each thread's
  const cg = <T>(v: T): T[] => (cgroups ? [v] : []);
  const rows: string[][] = [];
  for (let i = 0; i < Math.max(Math.min(mine.length, MAX_ROWS), sys.length); i++) {
    const t = mine[i], s = sys[i];
    rows.push([
      t ? String(t.pid) : '', t?.comm ?? '', ...cg(t?.cgroup ?? ''), t?.syscall ?? '', t ? String(t.count) : '',
      t ? (t.errors ? `${t.errors} ${t.errno ?? ''}`.trim() : '0') : '',
      t?.avg_ns != null ? duration(t.avg_ns) : '', p99(t?.hist_log2_ns, t?.max_ns), t?.max_ns != null ? duration(t.max_ns) : '',
      t?.total_ns != null ? duration(t.total_ns) : '',
      '│', s?.syscall ?? '', s ? String(s.count) : '',
    ]);
  }
  return [
    ...renderTable(['PID', 'COMM', ...cg('CGROUP'), 'SYSCALL', 'COUNT', 'ERRORS', 'AVG', 'P99', 'MAX', 'TOTAL', '│', 'SYSTEM TOP', 'COUNT'], rows,
      ['r', 'l', ...cg<Align>('l'), 'l', 'r', 'l', 'r', 'r', 'r', 'r', 'l', 'l', 'r']),
    ...more(mine.length - MAX_ROWS, '(thread, syscall) pairs'),
  ];
});
