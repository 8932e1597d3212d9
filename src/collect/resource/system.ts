// The whole system's figures, beside the targets', from the files the kernel keeps them in:
// /proc/stat (CPU time by mode, context switches), /proc/meminfo (memory), /proc/vmstat (page
// faults) and /proc/diskstats (storage bytes, whole disks only). Only /proc has these totals; they
// are cheap (four small files per interval).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import type { ResourceSystemRecord } from '../records.js';

export interface CpuTicks { user: number; nice: number; system: number; idle: number; iowait: number; irq: number; softirq: number; steal: number }

export interface SystemCounters {
  /** When read, ns since the clock's epoch. */
  ts: number;
  cpus: number;
  cpu: CpuTicks;   // in USER_HZ ticks, summed over CPUs
  perCpu: CpuTicks[]; // by CPU number
  ctxt: number;
  pgfault: number; // minor + major
  pgmajfault: number;
  diskReadSectors: number;  // 512-byte sectors, whatever the device's block size
  diskWriteSectors: number;
  mem: Record<string, number>; // /proc/meminfo, bytes
}

function ticks(f: string[]): CpuTicks {
  const n = f.slice(1, 9).map(Number);
  return { user: n[0], nice: n[1], system: n[2], idle: n[3], iowait: n[4], irq: n[5], softirq: n[6], steal: n[7] || 0 };
}

/** /proc/stat: the `cpu` line (ticks by mode), each `cpuN` line (their number: the online CPUs), `ctxt`. */
export function parseStat(text: string): Pick<SystemCounters, 'cpu' | 'perCpu' | 'cpus' | 'ctxt'> {
  let cpu: CpuTicks | undefined, cpus = 0, ctxt = 0;
  const perCpu: CpuTicks[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(/\s+/);
    if (f[0] === 'cpu') cpu = ticks(f);
    else if (/^cpu\d+$/.test(f[0])) {
      perCpu[Number(f[0].slice(3))] = ticks(f);
      cpus++;
    } else if (f[0] === 'ctxt') ctxt = Number(f[1]);
  }
  if (!cpu) throw new Error('/proc/stat has no cpu line');
  return { cpu, perCpu, cpus, ctxt };
}

/** /proc/meminfo in bytes, by name ("MemTotal: 24684248 kB" → MemTotal: 25276669952). */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+(?:\(\w+\))?):\s+(\d+)(?: kB)?$/gm)) out[m[1]] = Number(m[2]) * (m[0].endsWith('kB') ? 1024 : 1);
  return out;
}

export function parseVmstat(text: string): { pgfault: number; pgmajfault: number } {
  const get = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return { pgfault: get('pgfault'), pgmajfault: get('pgmajfault') };
}

/** Sectors read and written by the named devices (fields 6 and 10 of /proc/diskstats). */
export function parseDiskstats(text: string, disks: ReadonlySet<string>): { read: number; write: number } {
  let read = 0, write = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !disks.has(f[2])) continue;
    read += Number(f[5]);
    write += Number(f[9]);
  }
  return { read, write };
}

/**
 * Whole disks backed by a device: what storage I/O means. Partitions would count their disk's bytes
 * twice, and stacked devices (dm, md, loop) those of the disks below them.
 */
export function physicalDisks(sysBlock = '/sys/block'): Set<string> {
  try {
    return new Set(readdirSync(sysBlock).filter(d => existsSync(`${sysBlock}/${d}/device`)));
  } catch {
    return new Set();
  }
}

export class SystemSampler {
  private readonly disks = physicalDisks();
  /** The last two readings. */
  prev: SystemCounters | undefined;
  last: SystemCounters | undefined;

  constructor(readonly ticksPerSecond: number) {}

  read(now: number): SystemCounters {
    const stat = parseStat(readFileSync('/proc/stat', 'utf8'));
    const disk = parseDiskstats(readFileSync('/proc/diskstats', 'utf8'), this.disks);
    return {
      ts: now, ...stat, ...parseVmstat(readFileSync('/proc/vmstat', 'utf8')),
      diskReadSectors: disk.read, diskWriteSectors: disk.write,
      mem: parseMeminfo(readFileSync('/proc/meminfo', 'utf8')),
    };
  }

  /** Reads the counters; returns the record of the interval since the last call (none the first time). */
  sample(now: number): ResourceSystemRecord | undefined {
    const cur = this.read(now);
    this.prev = this.last;
    this.last = cur;
    return this.prev && systemRecord(this.prev, cur, this.ticksPerSecond);
  }
}

export function systemRecord(prev: SystemCounters, cur: SystemCounters, hz: number): ResourceSystemRecord {
  const interval = cur.ts - prev.ts;
  const d = (k: keyof CpuTicks) => Math.max(0, cur.cpu[k] - prev.cpu[k]);
  const tickNs = 1e9 / hz;
  const pct = (ticks: number) => (interval > 0 ? (ticks * tickNs * 100) / interval : 0);
  const user = d('user') + d('nice'), system = d('system') + d('irq') + d('softirq');
  const m = cur.mem;
  const pos = (n: number) => Math.max(0, n);
  return {
    type: 'resource', ts_ns: cur.ts, pid: 0, tgid: 0, comm: '', scope: 'system',
    interval_ns: interval, cpus: cur.cpus,
    cpu_pct: pct(user + system), user_pct: pct(user), system_pct: pct(system),
    iowait_pct: pct(d('iowait')), steal_pct: pct(d('steal')), idle_pct: pct(d('idle')),
    cpu_ns: (user + system) * tickNs, user_ns: user * tickNs, system_ns: system * tickNs,
    mem_total_bytes: m.MemTotal ?? 0,
    mem_used_bytes: pos((m.MemTotal ?? 0) - (m.MemAvailable ?? 0)),
    mem_available_bytes: m.MemAvailable ?? 0,
    mem_anon_bytes: m.AnonPages ?? 0,
    mem_file_bytes: pos((m.Cached ?? 0) + (m.Buffers ?? 0) - (m.Shmem ?? 0)),
    mem_shmem_bytes: m.Shmem ?? 0,
    swap_used_bytes: pos((m.SwapTotal ?? 0) - (m.SwapFree ?? 0)),
    read_bytes: pos(cur.diskReadSectors - prev.diskReadSectors) * 512,
    write_bytes: pos(cur.diskWriteSectors - prev.diskWriteSectors) * 512,
    minor_faults: pos((cur.pgfault - cur.pgmajfault) - (prev.pgfault - prev.pgmajfault)),
    major_faults: pos(cur.pgmajfault - prev.pgmajfault),
    context_switches: pos(cur.ctxt - prev.ctxt),
  };
}

/**
 * A CPU's idle task (a -c target): the kernel does not account its on-CPU time to the task
 * (se.sum_exec_runtime stays 0) but to the CPU, as idle and iowait time (/proc/stat, cpuN line).
 * Its time over the interval and since boot, in ns; in kernel mode, all of it.
 */
export function idleTime(prev: SystemCounters, cur: SystemCounters, cpu: number, hz: number): { ns: number; totalNs: number } | undefined {
  const a = prev.perCpu[cpu], b = cur.perCpu[cpu];
  if (!a || !b) return undefined; // offline
  const tickNs = 1e9 / hz;
  return { ns: Math.max(0, b.idle + b.iowait - a.idle - a.iowait) * tickNs, totalNs: (b.idle + b.iowait) * tickNs };
}
