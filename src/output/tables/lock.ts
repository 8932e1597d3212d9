// Text table of the lock category, every --interval: locks (and futex words) by total wait, the
// most waited-for first; with a cgroup or container target, the waiting process's cgroup beside it.
import type { LockRecord } from '../../collect/records.js';
import { duration, quantileText } from '../format.js';
import { registerTable, renderTable, type Align } from '../tables.js';

const MAX_ROWS = 25;

/** Where the lock was waited for: the caller for pthread locks, the first frames for kernel ones. */
function where(r: LockRecord): string {
  if (r.ustack && r.ustack.length > 1) return r.ustack[1];
  if (r.kstack) return r.kstack.slice(0, 3).map(f => f.replace(/\+0x[0-9a-f]+/, '')).join(' < ');
  return '';
}

registerTable('lock', recs => {
  const rows = (recs as LockRecord[]).slice().sort((a, b) => b.wait_total_ns - a.wait_total_ns);
  const d = (n: number | null) => (n == null ? '-' : duration(n));
  const cgroups = rows.some(r => typeof r.cgroup === 'string'); // a cgroup target
  const cg = <T>(v: T): T[] => (cgroups ? [v] : []);
  return [
    ...renderTable(
      ['KIND', 'LOCK', 'PID', 'COMM', ...cg('CGROUP'), 'ACQ', 'CONT', 'FAIL', 'WAIT TOTAL', 'MIN', 'AVG', 'P99', 'MAX', 'HOLD MIN', 'AVG', 'MAX', 'LONGEST BY', 'WHERE'],
      rows.slice(0, MAX_ROWS).map(r => [
        `${r.source === 'pthread' ? '' : `${r.source}:`}${r.kind}${r.mode ? `(${r.mode[0]})` : ''}`,
        r.symbol ?? r.addr, String(r.pid), r.comm, ...cg(r.cgroup ?? ''), r.acquisitions == null ? '-' : String(r.acquisitions),
        String(r.contended), String(r.failed), duration(r.wait_total_ns), duration(r.wait_min_ns), duration(r.wait_avg_ns),
        quantileText(r.wait_hist_log2_ns, 0.99, r.wait_max_ns) ?? '-', duration(r.wait_max_ns),
        d(r.hold_min_ns), d(r.hold_avg_ns), d(r.hold_max_ns), r.longest_holder_pid == null ? '-' : String(r.longest_holder_pid), where(r),
      ]),
      ['l', 'l', 'r', 'l', ...cg<Align>('l'), 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']),
    ...(rows.length > MAX_ROWS ? [`… and ${rows.length - MAX_ROWS} more`] : []),
  ];
});
