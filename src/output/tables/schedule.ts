// The `sched` table: scheduling delay per target thread, and the system's beside them.
import type { ProcRecord, SchedRecord } from '../../collect/records.js';
import { duration } from '../format.js';
import { registerTable, renderTable } from '../tables.js';

/** Upper bound of the log2 slot holding quantile q (delays in slot i lie in [2^i, 2^(i+1)) ns). */
export function quantileBound(hist: number[], q: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i];
    if (seen >= q * total) return 2 ** (i + 1);
  }
  return 2 ** hist.length;
}

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
