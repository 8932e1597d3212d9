// The `sched` table: scheduling delay per target thread, and the system's beside them.
import type { ProcRecord, SchedRecord } from '../../collect/records.js';
import { duration, quantileBound } from '../format.js';
import { registerTable, renderTable } from '../tables.js';

const d = (ns: number | null) => (ns === null ? '-' : duration(ns));

function render(records: ProcRecord[]): string[] {
  const recs = records as SchedRecord[];
  const rows = recs.map(r => [
    r.scope === 'system' ? 'system' : r.cpu !== null ? `idle/${r.cpu}` : String(r.pid),
    r.scope === 'system' ? '' : String(r.tgid), r.comm, String(r.count), d(r.avg_ns), d(r.min_ns),
    `< ${d(quantileBound(r.hist_log2_ns, 0.5))}`, `< ${d(quantileBound(r.hist_log2_ns, 0.99))}`, d(r.max_ns),
  ]);
  return renderTable(['PID', 'TGID', 'COMM', 'DELAYS', 'AVG', 'MIN', 'P50', 'P99', 'MAX'], rows,
    ['r', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r']);
}

registerTable('sched', render);
