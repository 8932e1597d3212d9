// How long activation takes, from the moment `ctl -a` issues it: until the hooks are attached
// (collecting) and until the first record of the target arrives, with the machine idle and with
// one CPU hog per core. ctl's own start-up (Node) is reported beside it: it comes before the issue.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BackgroundAttach, CORES, cpuHogs, fmt, median, quantile, sleep, stop, table, waitFor, workload } from './lib.js';

const RUNS = 15;

interface Sample { startupMs: number; collectingMs: number; firstEventMs: number }

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
  return { startupMs: res.ctl_startup_ms, collectingMs: res.collecting_after_issue_ns / 1e6, firstEventMs: Number(first - issued) / 1e6 };
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

export async function activationBench(): Promise<string> {
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
        ['issue -> first event', 'firstEventMs']] as const) {
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
    `RSS of the attach process: ${fmt(rssReady, 0)} MB ready, ${fmt(rssAfter, 0)} MB ready again 1.5 s after the activations.\n`;
}
