// Recording: what --record costs on a switch-heavy target beside --json > /dev/null (the target's
// switch cost, procimage's own CPU, records lost), what a record takes on disk; and how fast
// `procimage report` reads a recording of 10 million records, in how much memory.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Clock } from '../src/collect/clock.js';
import type { ProcRecord } from '../src/collect/records.js';
import { RecordingReader } from '../src/output/recording/reader.js';
import { RecordingWriter } from '../src/output/recording/writer.js';
import { CLI, fmt, median, run, table } from './lib.js';

const SECONDS = 5;
const RUNS = 2;

/** stress-ng's own figure for its pipe ping-pong pinned to CPU 0, from its --metrics-brief output. */
function nsPerSwitch(out: string): number {
  const m = /switch\s+([\d.]+) nanosecs per context switch/.exec(out);
  if (!m) throw new Error(`no switch figure in stress-ng's output:\n${out}`);
  return Number(m[1]);
}

const ticks = Number(run('getconf', ['CLK_TCK']).trim());
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / ticks; // utime, stime
  } catch {
    return NaN;
  }
}

/**
 * Context switches of the target so far (both threads of the ping-pong: stress-ng's children), a
 * stand-in for the records procimage received meanwhile: -k 1 makes one on-CPU and one off-CPU record
 * per switch, -k 0 one. Read from /proc of the trace's descendants.
 */
function delivered(tracePid: number): number {
  let n = 0;
  const walk = (pid: number) => {
    for (const t of safe(() => readdirSync(`/proc/${pid}/task`), [] as string[])) {
      const st = safe(() => readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'), '');
      if (/^Name:\s+stress-ng/m.test(st)) n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0) + Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0);
      for (const c of safe(() => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number), [] as number[])) walk(c);
    }
  };
  walk(tracePid);
  return n;
}

function safe<T>(f: () => T, dflt: T): T {
  try { return f(); } catch { return dflt; }
}

interface Result { nsPerSwitch: number; cpuPct: number; cpuPerRecordUs: number; rssMb: number; sent: number; delivered: number; lost: number; seconds: number; bytes?: number }

export function vmHwmMb(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return NaN;
  }
}

/** What the kernel sent, procimage received and the kernel dropped, from a summary's "kernel" line. */
export function kernelLine(text: string): { sent: number; delivered: number; lost: number } {
  const m = /^kernel +(\d+) records sent, (\d+) received, (\d+) dropped/m.exec(text);
  return m ? { sent: Number(m[1]), delivered: Number(m[2]), lost: Number(m[3]) } : { sent: 0, delivered: 0, lost: 0 };
}

/**
 * One run: procimage (or nothing) on the ping-pong for SECONDS; its CPU over the middle of the run
 * (from 1 s after start to 1 s before the end: start-up and the summary are not what is measured),
 * its peak RSS, and what the kernel sent and dropped (the summary: stderr with --json, else the
 * recording's own).
 */
async function once(args: string[] | undefined, recordTo?: string, freq?: number): Promise<Result> {
  const stress = ['taskset', '-c', '0', 'stress-ng', '--switch', '1', ...(freq ? ['--switch-freq', String(freq)] : []), '-t', String(SECONDS), '--metrics-brief'];
  const argv = args ? [CLI, 'trace', ...args, ...(recordTo ? ['--record', recordTo] : []), '--', ...stress] : stress;
  const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.setEncoding('utf8').on('data', d => { err += d; });
  const done = new Promise(r => p.on('close', r));
  await new Promise(r => setTimeout(r, 1000));
  const c0 = cpuSeconds(p.pid!), t0 = performance.now();
  const r0 = args ? delivered(p.pid!) : 0;
  await new Promise(r => setTimeout(r, (SECONDS - 2) * 1000));
  const cpuPct = args ? ((cpuSeconds(p.pid!) - c0) / ((performance.now() - t0) / 1000)) * 100 : NaN;
  const cpuPerRecordUs = args ? ((cpuSeconds(p.pid!) - c0) * 1e6) / Math.max(1, delivered(p.pid!) - r0) : NaN;
  let rssMb = NaN;
  const hwm = setInterval(() => { const v = vmHwmMb(p.pid!); if (!Number.isNaN(v)) rssMb = v; }, 50);
  await done;
  clearInterval(hwm);
  const summary = args && !args.includes('--json') && recordTo ? run(CLI, ['report', '--summary', recordTo]) : err;
  const seconds = Number(/^collected +([\d.]+) s/m.exec(summary)?.[1] ?? NaN);
  return { nsPerSwitch: nsPerSwitch(err), cpuPct, cpuPerRecordUs, rssMb, ...kernelLine(summary), seconds, bytes: recordTo ? statSync(recordTo).size : undefined };
}

async function recordCost(dir: string, freq?: number): Promise<string> {
  const modes: Array<[string, string[] | undefined, boolean]> = [
    ['not traced', undefined, false],
    ['-k 1 --json > /dev/null', ['-k', '1', '--json'], false],
    ['-k 1 --json --record F > /dev/null', ['-k', '1', '--json'], true],
    ['-k 1 --record F (text > /dev/null)', ['-k', '1'], true],
    ['-k 0 --json > /dev/null', ['-k', '0', '--json'], false],
    ['-k 0 --json --record F > /dev/null', ['-k', '0', '--json'], true],
  ];
  const rows: Array<Array<string | number>> = [];
  let base = NaN;
  for (const [name, args, rec] of modes) {
    const rs: Result[] = [];
    for (let i = 0; i < RUNS; i++) rs.push(await once(args, rec ? join(dir, `cost-${i}.rec`) : undefined, freq));
    const sw = median(rs.map(r => r.nsPerSwitch));
    if (!args) base = sw;
    const each = (f: (r: Result) => string) => (args ? rs.map(f).join(', ') : '-');
    rows.push([name, fmt(sw, 0), args ? `${fmt(sw / base, 2)}x` : '-', each(r => fmt(r.cpuPct, 0)), each(r => fmt(r.cpuPerRecordUs / (args?.[1] === '1' ? 2 : 1), 2)), each(r => fmt(r.rssMb, 0)),
      each(r => fmt(r.delivered / r.seconds / 1e3, 0)), each(r => `${fmt((100 * r.lost) / Math.max(1, r.sent + r.lost), 1)}%`),
      rec ? rs.map(r => fmt(r.bytes! / Math.max(1, r.delivered), 1)).join(', ') : '-']);
  }
  const target = `taskset -c 0 stress-ng --switch 1${freq ? ` --switch-freq ${freq}` : ''} -t ${SECONDS}`;
  return `### --record on a switch-heavy target: \`${target}\`, ${RUNS} runs per mode\n\n` +
    table(['mode', 'ns per switch (median)', 'vs not traced', 'procimage CPU % (each run)', 'CPU µs per switch record', 'peak RSS MB', 'thousand records/s received',
      'records lost', 'bytes on disk per record'], rows) + '\n\n' +
    'ns per switch: stress-ng\'s own figure. procimage\'s CPU: utime + stime from /proc over the middle of the run ' +
    '(1 s after start to 1 s before the end), in % of one core, and over the records of the target\'s switches meanwhile ' +
    '(its threads\' context switches from /proc: one record each with -k 0, two with -k 1; lost ones included). ' +
    'Records received and lost: the summary\'s kernel line ' +
    '(what the kernel sent, procimage received, the ring dropped; lost: dropped over sent + dropped). Bytes per record: the recording\'s size over the records in it.\n';
}

/** A recording of `count` records: a real run's records, repeated one after the other in time. */
async function bigRecording(seed: string, file: string, count: number): Promise<{ seconds: number }> {
  const r = RecordingReader.open(seed);
  const lines = [...r.chunks()].flatMap(c => c.lines);
  const summary = r.summary; // the seed's: a summary the report can print
  const records = lines.map(l => r.parseRecord(l)).filter(x => x.type !== 'module');
  const modules = lines.map(l => r.parseRecord(l)).filter(x => x.type === 'module');
  r.close();
  const span = records.reduce((m, x) => Math.max(m, x.ts_ns), 0) + 1;
  const clock = new Clock(r.clock.epochNs);
  const w = RecordingWriter.create(file, m => { throw new Error(m); });
  w.begin(r.header, clock);
  const t0 = performance.now();
  for (const m of modules) w.write(m);
  const shift = (x: ProcRecord, by: number): ProcRecord => {
    const o = { ...x } as Record<string, unknown>;
    for (const k of Object.keys(o)) if ((k === 'ts_ns' || k.endsWith('_ts_ns')) && typeof o[k] === 'number') o[k] = (o[k] as number) + by;
    return o as unknown as ProcRecord;
  };
  for (let n = 0, loop = 0; n < count; loop++) {
    for (let i = 0; i < records.length && n < count; i++, n++) {
      w.write(shift(records[i], loop * span));
      if (i % 1000 === 999) {
        w.flush();
        const wait = w.backedUp();
        if (wait) await wait;
      }
    }
  }
  await w.finish(summary);
  return { seconds: (performance.now() - t0) / 1000 };
}

/** Wall time and peak RSS of a command, by GNU time. */
function timed(args: string[]): { seconds: number; maxRssMb: number } {
  const t0 = performance.now();
  const out = run('sh', ['-c', `/usr/bin/time -f '%M' ${args.map(a => `'${a}'`).join(' ')} > /dev/null 2> /tmp/procimage-bench-time; tail -1 /tmp/procimage-bench-time`]);
  return { seconds: (performance.now() - t0) / 1000, maxRssMb: Number(out.trim()) / 1024 };
}

async function reportSpeed(dir: string): Promise<string> {
  const seed = join(dir, 'seed.rec');
  // a seed with every kind of record: the ping-pong's intervals with stacks, and every aggregate
  run(CLI, ['trace', '-a', '-k', '1', '-s', '5', '--record', seed, '--', 'taskset', '-c', '0', 'stress-ng', '--switch', '1', '-t', '2']);
  const big = join(dir, 'big.rec');
  const N = 10_000_000;
  const made = await bigRecording(seed, big, N);
  const size = statSync(big).size;
  const small = join(dir, 'small.rec');
  await bigRecording(seed, small, N / 10);
  const rows: Array<Array<string | number>> = [];
  for (const [name, args, n] of [
    ['report --json, 1 million records', ['report', '--json', small], N / 10],
    ['report (text), 1 million records', ['report', small], N / 10],
    ['report --json (no selection: lines as written)', ['report', '--json', big], N],
    ['report (text)', ['report', big], N],
    ['report --summary --tgid 1 (every record parsed)', ['report', '--summary', '--tgid', '1', big], N],
    ['report --summary (the end chunk only)', ['report', '--summary', big], N],
    ['report --folded', ['report', big, '--folded', join(dir, 'big.folded')], N],
    ['report --pprof', ['report', big, '--pprof', join(dir, 'big.pb.gz')], N],
    ['report --perfetto', ['report', big, '--perfetto', join(dir, 'big.json')], N],
  ] as const) {
    const t = timed([CLI, ...args]);
    rows.push([name, fmt(t.seconds, 1), fmt(n / t.seconds / 1e3, 0), fmt(t.maxRssMb, 0)]);
  }
  return `### procimage report on a recording of ${N / 1e6} million records (${fmt(size / 2 ** 20, 0)} MiB, ${fmt(size / N, 1)} bytes a record), and of 1 million\n\n` +
    table(['command (output to /dev/null)', 'seconds', 'thousand records/s', 'peak RSS MB'], rows) + '\n\n' +
    `The recording: a 2 s \`trace -a -k 1 -s 5\` of the switch ping-pong (every kind of record), its records repeated one ` +
    `after the other in time to ${N / 1e6} million, written by procimage's writer in ${fmt(made.seconds, 1)} s. Peak RSS: GNU time.\n`;
}

async function inTempDir(fn: (dir: string) => Promise<string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'procimage-bench-rec-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What --record costs a busy target and procimage, at a rate procimage keeps up with and at full speed. */
export const recordCostBench = () => inTempDir(async dir => `${await recordCost(dir, 10000)}\n${await recordCost(dir)}`);
/** How fast report reads 10 million records, in how much memory. */
export const reportBench = () => inTempDir(reportSpeed);
