// How much collecting disturbs the target itself: runsleep (5 × (20 ms on the CPU, 1 s asleep)) run
// under trace with each category set, against the same run with no tool. A reader woken for each
// record (its drain thread, then the main thread that parses the batch) can take the CPU the target
// just woke on; the target then waits, preempted (`R`). Counted three ways: the kernel's own count of
// the target's involuntary switches (getrusage, through /usr/bin/time: an oracle independent of
// procimage, and the only one in the no-tool runs), the target's scheduling delays (-S), and its
// R off-CPU intervals (-k 1), with those that begin right after a wakeup, still in do_nanosleep.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLI, fmt, median, table, workload } from './lib.js';

let rounds = 5;
const ARGS = ['5', '1000'];

const MODES = {
  'no tool': null,
  '-S': ['-S'],
  '-k 1': ['-k', '1'],
  '-k 1 -S': ['-k', '1', '-S'],
} as const;

type Rec = Record<string, unknown>;

interface Figures { nivcsw: number; delays?: number; r?: number; rSleep?: number; rMaxUs?: number }

const quiet = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 }).toString();

function once(cli: string, flags: readonly string[] | null): Figures {
  const out = join(tmpdir(), `procimage-disturb-${process.pid}`);
  const timed = ['/usr/bin/time', '-o', out, '-f', '%c', workload('runsleep'), ...ARGS];
  const stdout = flags ? quiet(cli, ['trace', '--json', ...flags, '--', ...timed]) : (quiet(timed[0], timed.slice(1)), '');
  const nivcsw = Number(readFileSync(out, 'utf8').trim().split('\n').at(-1));
  rmSync(out, { force: true });
  const f: Figures = { nivcsw };
  if (!flags) return f;
  const recs = stdout.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Rec);
  if (flags.includes('-S'))
    f.delays = (recs.filter(r => r.type === 'sched' && r.scope === 'thread' && r.comm === 'runsleep').at(-1)?.count as number) ?? 0;
  if (flags.includes('-k')) {
    const pid = recs.find(r => r.type === 'exec' && r.comm === 'runsleep')?.pid;
    const r = recs.filter(x => x.type === 'offcpu' && x.pid === pid && x.state === 'R');
    f.r = r.length;
    f.rSleep = r.filter(x => (x.kstack as string[]).some(k => k.startsWith('do_nanosleep+'))).length;
    f.rMaxUs = Math.max(0, ...r.map(x => (x.duration_ns as number) / 1e3));
  }
  return f;
}

/**
 * baseline: another build's bin/procimage (e.g. an older commit's, built elsewhere) to run beside this
 * one, round by round, so that both see the same machine.
 */
export async function disturbBench(baseline?: string): Promise<string> {
  const modes: Array<[string, string, readonly string[] | null]> = Object.entries(MODES).map(([m, f]) => [m, CLI, f]);
  if (baseline) for (const [m, f] of Object.entries(MODES)) if (f) modes.push([`${m} (baseline)`, baseline, f]);
  const got: Record<string, Figures[]> = Object.fromEntries(modes.map(([m]) => [m, []]));
  const load: string[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const [m, cli, flags] of modes) got[m].push(once(cli, flags));
    load.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  }
  const range = (xs: Array<number | undefined>, d = 0) => {
    const v = xs.filter((x): x is number => x !== undefined);
    return v.length ? `${fmt(median(v), d)} (${fmt(Math.min(...v), d)}-${fmt(Math.max(...v), d)})` : '';
  };
  const rows = modes.map(([m]) => {
    const g = got[m];
    return [m, range(g.map(x => x.nivcsw)), range(g.map(x => x.delays)), range(g.map(x => x.r)), range(g.map(x => x.rSleep)),
      range(g.map(x => x.rMaxUs))];
  });
  return `### The target's own disturbance: runsleep ${ARGS.join(' ')} (5 × 20 ms on, 1 s asleep), median (min-max) of ${rounds} runs\n\n` +
    table(['collecting', 'involuntary switches (rusage)', 'sched delays (-S)', 'R intervals (-k 1)',
      'R right after a wakeup (do_nanosleep)', 'longest R, µs'], rows) + '\n\n' +
    `1-min load average after each round: ${load.join(', ')} (the machine is shared).\n`;
}

// tsx bench/disturb.ts [--baseline OTHER/bin/procimage] [--rounds N]
if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
  if (arg('--rounds')) rounds = Number(arg('--rounds'));
  console.log(await disturbBench(arg('--baseline')));
}
