// How many 48-byte records per second the user side takes from the ring and decodes, with how much
// CPU, and where loss starts: a producer issues syscalls at a set rate, a BPF program turns each into
// a record through procimage's ring and lost counters, and the reader checks every sequence number.
import { spawn } from 'node:child_process';
import { BpfObject, RingReader, forEachRecord, type Batch } from '../src/bpf/index.js';
import { readKernelLost } from '../src/collect/lost.js';
import { CORES, GATE, benchObject, fmt, sleep, table, workload } from './lib.js';

const SECONDS = 3;

/** Blocks the main thread for stallMs once a second, as a slow output or a GC pause would. */
function stallEverySecond(stallMs: number): NodeJS.Timeout | undefined {
  if (!stallMs) return undefined;
  return setInterval(() => { const end = Date.now() + stallMs; while (Date.now() < end) { /* stall */ } }, 1000);
}

async function one(rate: number, threads: number, stallMs = 0) {
  const child = spawn(GATE, ['3', workload('ratedsys'), String(rate), String(SECONDS), String(threads)],
    { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
  let produced = '';
  child.stdout!.on('data', d => { produced += d; });
  const exited = new Promise(r => child.on('close', r));
  const obj = BpfObject.open(benchObject('rate48'));
  obj.setConst('target_tgid', child.pid!);
  obj.setMaxEntries('pi_events', 16 << 20);
  obj.load();
  const reader = new RingReader(obj.map('pi_events'), 48);
  // decode every field a consumer would use: struct rec48 { u32 type, pid; u64 ts, seq, nr, a, b; }
  let n = 0, bad = 0, tsMax = 0, seqSum = 0;
  const decode = (b: Batch) => forEachRecord(b, off => {
    const u = b.u32, w = off >>> 2;
    const ts = u[w + 2] + u[w + 3] * 4294967296, seq = u[w + 4] + u[w + 5] * 4294967296;
    if (u[w] !== 1000 || u[w + 6] !== 110 || u[w + 1] === 0) bad++;
    if (ts > tsMax) tsMax = ts;
    seqSum += seq;
    n++;
  });
  reader.start(decode, e => { throw e; });
  const link = obj.program('rate48_sys_enter').attach();
  const cpu0 = process.cpuUsage(), t0 = process.hrtime.bigint();
  const rss0 = process.memoryUsage().rss;
  let rss = rss0;
  const rssTimer = setInterval(() => { rss = Math.max(rss, process.memoryUsage().rss); }, 100);
  const staller = stallEverySecond(stallMs);
  (child.stdio[3] as NodeJS.WritableStream).end('g');
  await exited;
  clearInterval(staller);
  await sleep(50);
  link.close();
  await reader.stop();
  reader.drainNow(decode);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(rssTimer);
  const lost = readKernelLost(obj.map('pi_lost')).get('ring_full') ?? 0;
  reader.close();
  obj.close();
  const made = Number(produced.trim());
  return { made: made / SECONDS, drained: n / SECONDS, lost, lossPct: (lost / made) * 100,
    cpuPct: ((cpu.user + cpu.system) / 1e6 / wall) * 100, rssGrowthMb: (rss - rss0) / 2 ** 20,
    unaccounted: made - n - lost, bad };
}

export async function drainBench(): Promise<string> {
  const rows: Array<Array<string | number>> = [];
  // the ring holds 16 MiB / 56 B = 300k records: at 2 M/s a stall longer than ~150 ms must lose
  const runs: Array<[number, number, number]> = [[500_000, 1, 0], [1_000_000, 1, 0], [2_000_000, 1, 0], [2_500_000, 1, 0],
    [0, 1, 0], [0, 2, 0], [0, 4, 0], [2_000_000, 1, 100], [2_000_000, 1, 250]];
  for (const [rate, threads, stall] of runs) {
    const r = await one(rate, threads, stall);
    rows.push([`${rate ? `${rate / 1e6} M/s` : 'unthrottled'}, ${threads} thread${threads > 1 ? 's' : ''}` +
      (stall ? `, reader stalled ${stall} ms/s` : ''),
      fmt(r.made / 1e6, 2), fmt(r.drained / 1e6, 2), r.lost, `${fmt(r.lossPct, 2)}%`, `${fmt(r.cpuPct, 1)}%`,
      fmt(r.rssGrowthMb, 0), r.unaccounted, r.bad]);
  }
  return `### Ring reader: 48-byte records, drained and decoded (${SECONDS} s per rate, 16 MiB ring, ${CORES} CPUs)\n\n` +
    table(['producer', 'produced M/s', 'drained M/s', 'lost', 'loss', 'reader CPU (of one core)', 'RSS growth MB',
      'unaccounted', 'bad records'], rows) + '\n\n' +
    '"unaccounted" = produced - drained - counted lost: 0 means every record was either handed over or counted.\n' +
    '"reader stalled": the main thread blocked that long once a second (a slow sink, a GC pause): loss starts\n' +
    'when a stall outlasts what the ring holds (16 MiB of 56-byte slots = 300k records = 150 ms at 2 M/s).\n' +
    'Reader CPU includes the drain thread (the copy out of the ring) and the decode on the main thread.\n';
}
