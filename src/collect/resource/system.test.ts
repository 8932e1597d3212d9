import { describe, expect, it } from 'vitest';
import { parseDiskstats, parseMeminfo, parseStat, parseVmstat, systemRecord, type SystemCounters } from './system.js';

const STAT = `cpu  100 5 50 1000 20 3 2 0 0 0
cpu0 50 2 25 500 10 1 1 0 0 0
cpu1 50 3 25 500 10 2 1 0 0 0
intr 12345
ctxt 777
btime 1700000000
`;

describe('system figures from /proc', () => {
  it('parses /proc/stat', () => {
    const s = parseStat(STAT);
    expect(s).toMatchObject({
      cpus: 2, ctxt: 777, cpu: { user: 100, nice: 5, system: 50, idle: 1000, iowait: 20, irq: 3, softirq: 2, steal: 0 },
    });
    expect(s.perCpu.map(c => c.nice)).toEqual([2, 3]);
  });

  it('parses /proc/meminfo into bytes', () => {
    expect(parseMeminfo('MemTotal:       1000 kB\nMemAvailable:    600 kB\nHugePages_Total:       0\nActive(anon):     8 kB\n'))
      .toEqual({ MemTotal: 1024000, MemAvailable: 614400, HugePages_Total: 0, 'Active(anon)': 8192 });
  });

  it('parses /proc/vmstat faults and counts whole disks only in /proc/diskstats', () => {
    expect(parseVmstat('pgfault 50\npgmajfault 4\npgfree 1\n')).toEqual({ pgfault: 50, pgmajfault: 4 });
    const ds = ' 253       0 vda 10 0 100 0 20 0 200 0 0 0 0\n 253       1 vda1 10 0 100 0 20 0 200 0 0 0 0\n   7       0 loop0 5 0 9 0 0 0 0 0 0 0 0\n';
    expect(parseDiskstats(ds, new Set(['vda']))).toEqual({ read: 100, write: 200 });
  });

  it('turns two readings into the interval\'s figures', () => {
    const base: SystemCounters = {
      ts: 0, cpus: 2, ctxt: 100, perCpu: [], pgfault: 1000, pgmajfault: 10, diskReadSectors: 0, diskWriteSectors: 0,
      cpu: { user: 0, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq: 0, steal: 0 },
      mem: { MemTotal: 1000, MemAvailable: 400, AnonPages: 300, Cached: 200, Buffers: 10, Shmem: 50, SwapTotal: 0, SwapFree: 0 },
    };
    const later = { ...base, ts: 1e9, ctxt: 600, pgfault: 1100, pgmajfault: 15, diskReadSectors: 8, diskWriteSectors: 2,
      cpu: { ...base.cpu, user: 90, nice: 10, system: 20, irq: 5, idle: 60, iowait: 15 } };
    expect(systemRecord(base, later, 100)).toMatchObject({
      scope: 'system', interval_ns: 1e9, cpus: 2, cpu_pct: 125, user_pct: 100, system_pct: 25, iowait_pct: 15, idle_pct: 60,
      cpu_ns: 1.25e9, mem_used_bytes: 600, mem_file_bytes: 160, read_bytes: 4096, write_bytes: 1024,
      minor_faults: 95, major_faults: 5, context_switches: 500,
    });
  });
});
