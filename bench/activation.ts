// How long activation takes, from the moment `ctl -a` issues it: until the hooks are attached
// (collecting) and until the first record of the target arrives, with the machine idle and with
// one CPU hog per core. ctl's own start-up (Node, and connecting to the attach) is reported beside
// it: it comes before the issue; so is the sum, from ctl's start to collecting. The machine's CPU
// pressure before each table's own processes start is reported too: on a shared machine other
// users' processes make these figures as much as procimage does.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BackgroundAttach, CORES, cpuHogs, fmt, median, quantile, sleep, stop, table, waitFor, workload } from './lib.js';

const RUNS = 15;

interface Sample { startupMs: number; collectingMs: number; endToEndMs: number; firstEventMs: number }

/** How much of the last 10 s and 60 s some runnable task waited for a CPU (/proc/pressure/cpu), in words. */
function cpuPressure(): string {
  const m = /^some avg10=([\d.]+) avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
  return m ? `some avg10 ${fmt(Number(m[1]), 0)}%, avg60 ${fmt(Number(m[2]), 0)}%` : 'unknown';
}

async function measure(a: BackgroundAttach, tgid: number): Promise<Sample> {
  const from = a.out.length;
  const res = JSON.parse(a.ctl(['-a', '-P', String(tgid), '-k', '0', '--json']));
  const issued = BigInt(res.issued_ns);
  const first = await waitFor(() => {
    for (const line of a.out.slice(from).split('\n')) {
      const m = /^\{"type":"(?:fork|exit|exec)","ts_ns":(\d+)/.exec(line);
      if (m && BigInt(m[1]) > issued) return BigInt(m[1]);
    }
    return undefined;
  }, 'first record');
  a.ctl(['-d']);
  a.out = '';
  const collectingMs = res.collecting_after_issue_ns / 1e6;
  return { startupMs: res.ctl_startup_ms, collectingMs, endToEndMs: res.ctl_startup_ms + collectingMs, firstEventMs: Number(first - issued) / 1e6 };
}

/**
 * Issue -> collecting for each category on a process that takes mutexes (so -l has its libc to
 * probe), idle and with a CPU hog per core: what each category's hooks take to attach.
 */
const PER_CATEGORY_RUNS = 11;
const CATEGORIES: Array<[string, string[]]> = [
  ['-k 0', ['-k', '0']], ['-k 1 -S', ['-k', '1', '-S']], ['-s 10', ['-s', '10']], ['-l', ['-l']], ['-r', ['-r']],
  ['every category', ['-k', '1', '-l', '-r', '-s', '10', '-S']],
  ['(none: all attach -a loaded)', []],
];

async function perCategory(): Promise<string> {
  const pressure = cpuPressure();
  const a = await BackgroundAttach.start(['-a', '--json']);
  const target = spawn(workload('locks'), ['mutex', '2', '1000000000', '50'], { stdio: 'ignore' });
  const rows: Array<Array<string | number>> = [];
  try {
    await sleep(300);
    const byLoad: Record<string, number[][]> = {};
    for (const load of ['idle', `stress-ng -c ${CORES}`]) {
      const hogs = load === 'idle' ? undefined : cpuHogs();
      await sleep(500);
      byLoad[load] = CATEGORIES.map(() => []);
      for (let i = 0; i < PER_CATEGORY_RUNS; i++) {
        for (const [k, [, flags]] of CATEGORIES.entries()) {
          const res = JSON.parse(a.ctl(['-a', '-P', String(target.pid), ...flags, '--json']));
          byLoad[load][k].push(res.collecting_after_issue_ns / 1e6);
          a.ctl(['-d']);
          a.out = '';
        }
      }
      if (hogs) await stop(hogs);
    }
    for (const [k, [name]] of CATEGORIES.entries()) {
      const idle = byLoad.idle[k], loaded = byLoad[`stress-ng -c ${CORES}`][k];
      rows.push([name, ...[idle, loaded].flatMap(xs => [fmt(median(xs), 2), fmt(quantile(xs, 0.9), 2), fmt(Math.max(...xs), 2)])]);
    }
  } finally {
    await stop(target);
    await a.finish();
  }
  return `### Activation latency by category, ms: issue -> collecting (${PER_CATEGORY_RUNS} activations each, categories rotated; ` +
    `target: a process taking mutexes)\n\n` +
    table(['ctl -a -P <target>', 'idle median', 'idle p90', 'idle max', `stress-ng -c ${CORES} median`, `stress-ng -c ${CORES} p90`,
      `stress-ng -c ${CORES} max`], rows) + '\n\n' +
    `CPU pressure before it started: ${pressure}.\n`;
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

export async function activationBench(): Promise<string> {
  return `${await forkingTarget()}\n${await perCategory()}`;
}

async function forkingTarget(): Promise<string> {
  const pressure = cpuPressure();
  const a = await BackgroundAttach.start(['-a', '--json']);
  const rssReady = rssMb(a.proc.pid!);
  // a target that forks all the time, so the first event follows collection within microseconds
  const target = spawn(workload('forkloop'), ['1000000000'], { stdio: 'ignore' });
  const rows: Array<Array<string | number>> = [];
  let rssAfter = 0;
  try {
    for (const load of ['idle', `stress-ng -c ${CORES}`]) {
      const hogs = load === 'idle' ? undefined : cpuHogs();
      await sleep(500);
      const s: Sample[] = [];
      for (let i = 0; i < RUNS; i++) s.push(await measure(a, target.pid!));
      if (hogs) await stop(hogs);
      // ready again: the daemon hands its free C heap back 1 s after a deactivation (Session.tidyUp)
      await sleep(1500);
      rssAfter = Math.max(rssAfter, rssMb(a.proc.pid!));
      for (const [name, k] of [['ctl start-up (before issue)', 'startupMs'], ['issue -> collecting', 'collectingMs'],
        ['ctl start -> collecting', 'endToEndMs'], ['issue -> first event', 'firstEventMs']] as const) {
        const xs = s.map(x => x[k]);
        rows.push([`${load}: ${name}`, fmt(median(xs), 2), fmt(quantile(xs, 0.9), 2), fmt(Math.max(...xs), 2)]);
      }
    }
  } finally {
    await stop(target);
    await a.finish();
  }
  return `### Activation latency, ms (${RUNS} activations each of \`attach -a\`; target: a process forking continuously)\n\n` +
    table(['', 'median', 'p90', 'max'], rows) + '\n\n' +
    `RSS of the attach process: ${fmt(rssReady, 0)} MB ready, ${fmt(rssAfter, 0)} MB ready again 1.5 s after the activations. ` +
    `CPU pressure before it started: ${pressure}.\n`;
}
