// The cost of resource (-r) on a busy system: every process, a sample a second — against no
// collector, and against the same figures gathered the way top, ps and process-exporter do, by a
// /proc scan of every process and thread (workloads/procscan.c: C, the cheapest such scan can be).
// The machine is kept busy by a spinner thread per core (workloads/spin.c), whose rate is the
// yardstick: what a collector takes shows as a lower rate. Background processes add threads for the
// collectors to walk. Rounds interleave the modes so drift of the machine hits them all alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CLI, CORES, fmt, median, sleep, stop, table, waitFor, workload } from './lib.js';

const SECONDS = 4;
const ROUNDS = 10;
const SIZES = [{ processes: 10, threads: 100 }, { processes: 50, threads: 100 }];

const modes = ['none', 'procimage -r', 'procimage -r (/proc)', '/proc scan'] as const;
type Mode = (typeof modes)[number];

/** User + system CPU time of a process so far, ms. */
function cpuMs(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // USER_HZ = 100
}

function threadsOnSystem(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3].split('/')[1]);
}

interface Collector { proc: ChildProcess; samples(): number }

/**
 * procimage trace -r over every process, 1 s interval, NDJSON drained; ready once it has sampled.
 * source: the task iterator (the default) or /proc (what a kernel without task iterators gets).
 */
async function startProcimage(source: 'iter' | 'proc'): Promise<Collector> {
  const proc = spawn(CLI, ['trace', '-r', '--interval', '1', '--json', '--resource-source', source], { stdio: ['ignore', 'pipe', 'ignore'] });
  let systemRecords = 0;
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => { systemRecords += d.split('"scope":"system"').length - 1; });
  await waitFor(() => systemRecords > 0, 'procimage\'s first sample', 30_000);
  return { proc, samples: () => systemRecords };
}

async function startScan(): Promise<Collector> {
  const proc = spawn(workload('procscan'), ['1000', '1000000'], { stdio: 'ignore' });
  const started = Date.now();
  await sleep(100);
  return { proc, samples: () => Math.floor((Date.now() - started) / 1000) + 1 };
}

interface Round { rate: number; cpuMs: number; samples: number }

/** The spinners' rate, ops/s; asynchronous, so that the collector's output keeps being read meanwhile. */
function spin(): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(workload('spin'), [String(CORES), String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.setEncoding('utf8').on('data', d => { out += d; });
    p.on('close', code => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`spin exited ${code}`))));
  });
}

async function measure(mode: Mode): Promise<Round> {
  const c = mode === 'none' ? undefined : mode === '/proc scan' ? await startScan()
    : await startProcimage(mode === 'procimage -r' ? 'iter' : 'proc');
  try {
    const cpu0 = c ? cpuMs(c.proc.pid!) : 0, n0 = c?.samples() ?? 0;
    const rate = await spin();
    return { rate, cpuMs: c ? cpuMs(c.proc.pid!) - cpu0 : 0, samples: c ? c.samples() - n0 : 0 };
  } finally {
    if (c) await stop(c.proc);
  }
}

export async function resourceBench(): Promise<string> {
  const out: string[] = [];
  for (const size of SIZES) {
    const background = Array.from({ length: size.processes }, () =>
      spawn(workload('resource_work'), ['idle', String(size.threads - 1), '0', 'sleep', '3600000'], { stdio: 'ignore' }));
    try {
      await sleep(1000);
      const threads = threadsOnSystem();
      const rounds = Object.fromEntries(modes.map(m => [m, []])) as unknown as Record<Mode, Round[]>;
      for (let r = 0; r < ROUNDS; r++) {
        const order = [...modes.slice(r % modes.length), ...modes.slice(0, r % modes.length)];
        for (const m of order) rounds[m].push(await measure(m));
      }
      // each round's modes ran back to back: a ratio within a round is the least disturbed by drift
      const rows = modes.map(m => {
        const rs = rounds[m];
        const ratios = rs.map((x, i) => x.rate / rounds.none[i].rate);
        const cpu = median(rs.map(x => x.cpuMs / SECONDS / 10)); // % of one core
        return [m, fmt(median(rs.map(x => x.rate)) / 1e6, 1), fmt(median(ratios), 3),
          `${fmt(Math.min(...ratios), 3)}-${fmt(Math.max(...ratios), 3)}`,
          m === 'none' ? '' : fmt(cpu, 2), m === 'none' ? '' : fmt(1 - cpu / 100 / CORES, 4),
          m === 'none' ? '' : fmt(median(rs.map(x => x.cpuMs / Math.max(1, x.samples))), 1)];
      });
      out.push(`#### ${threads} threads on the system (${size.processes} background processes of ${size.threads} threads)\n\n` +
        table(['collector (1 s interval)', 'spin M ops/s', 'ratio to none', 'ratio min-max', 'collector CPU % of a core',
          'ratio its CPU implies', 'CPU ms per sample'], rows));
    } finally {
      for (const b of background) await stop(b);
    }
  }
  return `### Cost of resource (-r) on a busy system: every process, one sample a second (median of ${ROUNDS} rounds ` +
    `of ${SECONDS} s, ${CORES} spinner threads)\n\n` + out.join('\n\n') + '\n\n' +
    '"procimage -r": `procimage trace -r --interval 1 --json` (every process, top 10 by each resource, the system beside),\n' +
    'its NDJSON drained; "(/proc)": the same with `--resource-source proc`, what a kernel without task iterators gets.\n' +
    '"/proc scan": `workloads/procscan` reading stat, status and io of every process and every\n' +
    'thread once a second, as top/ps/process-exporter do. "CPU % of a core" and "CPU ms per sample": the collector\'s\n' +
    'own user + system time (ticks of 10 ms) over the measured window. "ratio to none": the median over rounds of the\n' +
    'spinners\' rate with the collector over their rate without it in the same round; "ratio its CPU implies": 1 - the\n' +
    'collector\'s share of the machine (its CPU time over the spinners\' cores), what the spinners lose if nothing else moves.\n';
}
