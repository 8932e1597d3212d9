// The `sched` table: scheduling delay per target thread, and the system's beside them.
import type { ProcRecord, SchedRecord } from '../../collect/records.js';
import { duration, quantileText } from '../format.js';
import { registerTable, renderTable } from '../tables.js';

const d = (ns: number | null) => (ns === null ? '-' : duration(ns));

function render(records: ProcRecord[]): string[] {
  const recs = records as SchedRecord[];
  const rows = recs.map(r => [
    r.scope === 'system' ? 'system' : r.cpu !== null ? `idle/${r.cpu}` : String(r.pid),
    r.scope === 'system' ? '' : String(r.tgid), r.comm, String(r.count), d(r.avg_ns), d(r.min_ns),
    quantileText(r.hist_log2_ns, 0.5, r.max_ns) ?? '-', quantileText(r.hist_log2_ns, 0.99, r.max_ns) ?? '-', d(r.max_ns),
  ]);
  return renderTable(['PID', 'TGID', 'COMM', 'DELAYS', 'AVG', 'MIN', 'P50', 'P99', 'MAX'], rows,
    ['r', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r']);
}

registerTable('sched', render);
