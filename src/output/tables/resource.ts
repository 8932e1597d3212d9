// The resource table, printed every --interval: the whole system on one line, then one row per
// process (and, under a process target, per thread), rates per second over the interval; with a
// cgroup or container target, each row's cgroup beside its name.
import type { ProcRecord, ResourceRecord, ResourceSystemRecord } from '../../collect/records.js';
import { bytes, count } from '../format.js';
import { registerTable, renderTable, type Align } from '../tables.js';

const perSec = (n: number, intervalNs: number) => (intervalNs > 0 ? (n * 1e9) / intervalNs : 0);
const pct = (p: number) => p.toFixed(1);

export function systemLine(s: ResourceSystemRecord): string {
  const rate = (n: number) => perSec(n, s.interval_ns);
  return `system (${s.cpus} CPUs): CPU ${pct(s.cpu_pct)}% (user ${pct(s.user_pct)}, system ${pct(s.system_pct)}, ` +
    `iowait ${pct(s.iowait_pct)}${s.steal_pct > 0 ? `, steal ${pct(s.steal_pct)}` : ''}) · memory ${bytes(s.mem_used_bytes)} used ` +
    `of ${bytes(s.mem_total_bytes)} · disk read ${bytes(rate(s.read_bytes))}/s write ${bytes(rate(s.write_bytes))}/s · ` +
    `faults ${count(rate(s.minor_faults) + rate(s.major_faults))}/s (${count(rate(s.major_faults))}/s major) · ` +
    `${count(rate(s.context_switches))} switches/s`;
}

const HEAD = ['PID', 'TGID', 'COMM', 'CGROUP', 'CPU%', 'USR%', 'SYS%', 'RSS', 'VIRT', 'DISK-RD/s', 'DISK-WR/s', 'IO-RD/s', 'IO-WR/s',
  'MINFLT/s', 'MAJFLT/s', 'VCSW/s', 'ICSW/s', 'NOTE'];
const ALIGN: Align[] = ['r', 'r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'];

/** The CGROUP column's index in HEAD: shown only when a record has a cgroup (a cgroup target). */
const CGROUP_COL = HEAD.indexOf('CGROUP');
const withoutCgroup = <T>(a: T[]) => a.filter((_, i) => i !== CGROUP_COL);

function row(r: ResourceRecord, indent: boolean): string[] {
  const rate = (n: number) => perSec(n, r.interval_ns);
  const mem = (n: number | null) => (n === null ? '-' : bytes(n));
  const note = [r.exited ? 'exited' : '', r.top ? `top ${r.top.join(',')}` : ''].filter(Boolean).join('; ');
  return [String(r.pid), String(r.tgid), (indent ? '└ ' : '') + r.comm, r.cgroup ?? '', pct(r.cpu_pct), pct(r.user_pct), pct(r.system_pct),
    mem(r.rss_bytes), mem(r.vm_bytes), bytes(rate(r.read_bytes)), bytes(rate(r.write_bytes)),
    bytes(rate(r.io_read_bytes)), bytes(rate(r.io_write_bytes)), count(rate(r.minor_faults)), count(rate(r.major_faults)),
    count(rate(r.voluntary_switches)), count(rate(r.involuntary_switches)), note];
}

export function renderResource(records: ProcRecord[]): string[] {
  const recs = records.filter((r): r is ResourceRecord | ResourceSystemRecord => r.type === 'resource');
  const lines = recs.filter((r): r is ResourceSystemRecord => r.scope === 'system').map(systemLine);
  const tasks = recs.filter((r): r is ResourceRecord => r.scope !== 'system');
  const processes = tasks.filter(r => r.scope === 'process');
  const threads = tasks.filter(r => r.scope === 'thread');
  const rows: string[][] = [];
  // every-process mode keeps its ranking order; a process target lists its processes by pid
  const ordered = processes.some(p => p.top) ? processes : [...processes].sort((a, b) => a.tgid - b.tgid);
  for (const p of ordered) {
    rows.push(row(p, false));
    const mine = threads.filter(t => t.tgid === p.tgid);
    if (mine.length > 1 || (mine.length === 1 && mine[0].pid !== p.pid)) for (const t of mine) rows.push(row(t, true));
  }
  const shown = new Set(processes.map(p => p.tgid));
  for (const t of threads) if (!shown.has(t.tgid)) rows.push(row(t, false));
  if (rows.length) {
    if (tasks.some(r => typeof r.cgroup === 'string')) lines.push(...renderTable(HEAD, rows, ALIGN));
    else lines.push(...renderTable(withoutCgroup(HEAD), rows.map(withoutCgroup), withoutCgroup(ALIGN)));
  }
  return lines;
}

registerTable('resource', renderResource);
