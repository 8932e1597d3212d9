// Every-process mode: a machine runs hundreds of processes, so each interval reports the top N by
// each resource (the union of those lists), each record naming the lists it made.
import type { ResourceRecord } from '../records.js';

export const RANKINGS: Record<string, (r: ResourceRecord) => number> = {
  cpu: r => r.cpu_ns,
  memory: r => r.rss_bytes ?? 0,
  storage: r => r.read_bytes + r.write_bytes,
  io: r => r.io_read_bytes + r.io_write_bytes,
  faults: r => r.minor_faults + r.major_faults,
  switches: r => r.voluntary_switches + r.involuntary_switches,
};

/** The records in the top n of any ranking (a zero never ranks), by CPU first; `top` filled in. */
export function topN(records: ResourceRecord[], n: number): ResourceRecord[] {
  const chosen = new Map<ResourceRecord, string[]>();
  for (const [name, value] of Object.entries(RANKINGS)) {
    const ranked = records.filter(r => value(r) > 0).sort((a, b) => value(b) - value(a)).slice(0, n);
    for (const r of ranked) chosen.set(r, [...chosen.get(r) ?? [], name]);
  }
  return [...chosen].map(([r, top]) => ({ ...r, top }))
    .sort((a, b) => b.cpu_ns - a.cpu_ns || (b.rss_bytes ?? 0) - (a.rss_bytes ?? 0));
}
