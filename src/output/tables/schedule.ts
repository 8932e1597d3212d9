// The `sched` table: scheduling delay per target thread, per cgroup with a cgroup target, and the
// system's beside them.
import type { ProcRecord, SchedRecord } from '../../collect/records.js';
import { duration, quantileText } from '../format.js';
import { registerTable, renderTable } from '../tables.js';

const d = (ns: number | null) => (ns === null ? '-' : duration(ns));

function render(records: ProcRecord[]): string[] {
  const recs = records as SchedRecord[];
  // a cgroup target: each thread's cgroup beside it, and each cgroup's threads summed (scope cgroup)
  const cgroups = recs.some(r => typeof r.cgroup === 'string');
  const rows = recs.map(r => [
    r.scope === 'system' ? 'system' : r.scope === 'cgroup' ? 'cgroup' : r.cpu !== null ? `idle/${r.cpu}` : String(r.pid),
    r.scope === 'thread' ? String(r.tgid) : '', r.comm, ...(cgroups ? [r.cgroup ?? ''] : []), String(r.count), d(r.avg_ns), d(r.min_ns),
    quantileText(r.hist_log2_ns, 0.5, r.max_ns) ?? '-', quantileText(r.hist_log2_ns, 0.99, r.max_ns) ?? '-', d(r.max_ns),
  ]);
  return renderTable(['PID', 'TGID', 'COMM', ...(cgroups ? ['CGROUP'] : []), 'DELAYS', 'AVG', 'MIN', 'P50', 'P99', 'MAX'], rows,
    ['r', 'r', 'l', ...(cgroups ? ['l' as const] : []), 'r', 'r', 'r', 'r', 'r', 'r']);
}

registerTable('sched', render);
