// Which records of a recording a report looks at: by thread, process, name and time. The whole
// system's figures beside the targets (scope "system"), lost counts and module records are kept
// whatever the selection: they are the context the selected records are read in.
import type { ProcRecord } from '../../collect/records.js';

export interface RecordFilter {
  pids?: Set<number>;
  tgids?: Set<number>;
  comms?: Set<string>;
  /** ns since the activation's start, inclusive. */
  fromNs?: number;
  toNs?: number;
}

export const filtering = (f: RecordFilter): boolean =>
  f.pids !== undefined || f.tgids !== undefined || f.comms !== undefined || f.fromNs !== undefined || f.toNs !== undefined;

/** Records about no particular task: always kept. */
function context(r: ProcRecord): boolean {
  return r.type === 'lost' || (r.type as string) === 'module' || ('scope' in r && r.scope === 'system');
}

/** The time a record covers: an interval its span (when known), anything else its ts_ns. */
function span(r: ProcRecord): [number, number] {
  if (r.type === 'oncpu' || r.type === 'offcpu') return [r.start_ts_ns ?? r.ts_ns, r.end_ts_ns ?? r.ts_ns];
  return [r.ts_ns, r.ts_ns];
}

export function selects(f: RecordFilter, r: ProcRecord): boolean {
  if (context(r)) return true;
  if (f.fromNs !== undefined || f.toNs !== undefined) {
    const [a, b] = span(r);
    if (f.fromNs !== undefined && b < f.fromNs) return false;
    if (f.toNs !== undefined && a > f.toNs) return false;
  }
  // a fork is also its child's: the record of a selected process's birth is in its parent
  const fork = r.type === 'fork' ? r : undefined;
  if (f.pids && !f.pids.has(r.pid) && !(fork && f.pids.has(fork.child_pid))) return false;
  if (f.tgids && !f.tgids.has(r.tgid) && !(fork && f.tgids.has(fork.child_tgid))) return false;
  if (f.comms && !f.comms.has(r.comm)) return false;
  return true;
}
