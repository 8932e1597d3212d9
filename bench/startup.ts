// Start-up (issue 16): `procimage trace -S -- true` and `trace -- true` (every category), start to
// exit, N runs each, the commands (and the builds compared) alternating within each round. Wall
// clock from spawn to exit, the CPU it took (user + system, the process and its children), and where
// the time went: each run sets PROCIMAGE_TIMING=1 (src/sys/timing.ts) and the phases' medians are
// printed beside the totals.
//   tsx bench/run.ts startup
//   STARTUP_RUNS=15 STARTUP_BASELINE=/path/to/other/checkout/bin/procimage tsx bench/run.ts startup
// STARTUP_BASELINE: another build of procimage (with PROCIMAGE_TIMING), run in the same rounds, so
// that before and after are measured on the same (shared, noisy) machine at the same time.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, fmt, median, table } from './lib.js';

const RUNS = Number(process.env.STARTUP_RUNS ?? 15);
const GOALS: Record<string, number> = { 'trace -S -- true': 300, 'trace -- true': 500 };
const COMMANDS = [['trace', '-S', '--', 'true'], ['trace', '--', 'true']];

/**
 * The phases a breakdown reports, each the sum of the marks (src/sys/timing.ts) it lists: the
 * time from the previous mark to each. Marks not listed fall into "other".
 */
const PHASES: Array<[string, (mark: string) => boolean]> = [
  ['node and modules', m => m === 'cli-modules' || m === 'trace-modules'],
  ['preflight, feature probes', m => m === 'preflight' || m === 'features'],
  ['BPF objects (open, configure, verify)', m => m === 'shared' || m.startsWith('configure:') || m.startsWith('load:')],
  ['ring; kallsyms not yet read', m => m === 'ring' || m === 'kallsyms' || m === 'release' || m === 'kallsyms-wait'],
  ['activation (attach, gate)', m => m === 'attach' || m === 'attach-extra' || m === 'activated'],
  ['the command runs', m => m === 'stop'],
  ['stop, drain (kallsyms wait)', m => m === 'drain' || m === 'dying'],
  ['detach', m => m === 'detach' || m === 'released'],
  ['final poll, summary, close, exit', m => m === 'final-poll' || m === 'summary' || m === 'deactivated' || m === 'closed' || m === 'exit'],
];

interface Run { wallMs: number; cpuMs: number; marks: Map<string, number>; exitAt: number }

/** One run: wall clock around spawn..exit, CPU from GNU time, the marks from the timing line. */
function once(cli: string, args: string[]): Promise<Run> {
  const out = join(tmpdir(), `procimage-startup-${process.pid}.time`);
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn('/usr/bin/time', ['-f', '%U %S', '-o', out, cli, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PROCIMAGE_TIMING: '1' },
    });
    let err = '';
    p.stderr!.setEncoding('utf8').on('data', d => { err += d; });
    p.once('error', reject);
    p.once('close', code => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) return reject(new Error(`${cli} ${args.join(' ')} exited ${code}: ${err}`));
      const [user, sys] = readFileSync(out, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
      rmSync(out, { force: true });
      const line = /procimage timing [^:]*: (.*)/.exec(err)?.[1];
      if (!line) return reject(new Error(`no timing line from ${cli} (built with PROCIMAGE_TIMING?):\n${err}`));
      const marks = new Map<string, number>();
      let exitAt = 0;
      for (const part of line.trim().split(' ')) {
        const [name, times] = part.split('=');
        const [at, since] = times.split('/').map(Number);
        marks.set(name, (marks.get(name) ?? 0) + since);
        if (name === 'exit') exitAt = at;
      }
      resolve({ wallMs, cpuMs: (user + sys) * 1000, marks, exitAt });
    });
  });
}

/** The phases' ms, then the marks no phase lists, then what no mark sees: bin/procimage's shell script before Node, the process's end after its last mark. */
function phases(r: Run): number[] {
  const out = PHASES.map(() => 0);
  let other = 0;
  for (const [m, ms] of r.marks) {
    const i = PHASES.findIndex(([, has]) => has(m));
    if (i >= 0) out[i] += ms; else other += ms;
  }
  return [...out, other, r.wallMs - r.exitAt];
}

/** The share of the last minute some task waited for a CPU (/proc/pressure/cpu): how busy the shared machine was. */
function cpuPressure(): string {
  try {
    return `${/some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))![1]}%`;
  } catch {
    return 'unknown';
  }
}

const range = (xs: number[]) => `${fmt(median(xs), 0)} (${fmt(Math.min(...xs), 0)}-${fmt(Math.max(...xs), 0)})`;

export async function startupBench(): Promise<string> {
  const builds: Array<[string, string]> = [['this build', CLI]];
  if (process.env.STARTUP_BASELINE) builds.unshift(['baseline', process.env.STARTUP_BASELINE]);
  const runs = new Map<string, Run[]>();
  const key = (b: string, c: string[]) => `${c.join(' ')}|${b}`;
  const pressureBefore = cpuPressure();
  for (const [, cli] of builds) for (const c of COMMANDS) await once(cli, c); // warm the page cache
  for (let i = 0; i < RUNS; i++) {
    for (const c of COMMANDS) {
      for (const [b, cli] of i % 2 ? [...builds].reverse() : builds) {
        const k = key(b, c);
        runs.set(k, [...runs.get(k) ?? [], await once(cli, c)]);
      }
    }
  }
  const rows: Array<Array<string | number>> = [];
  const breakdown: Array<Array<string | number>> = [];
  for (const c of COMMANDS) {
    const cmd = c.join(' ');
    for (const [b] of builds) {
      const rs = runs.get(key(b, c))!;
      rows.push([`\`${cmd}\``, b, range(rs.map(r => r.wallMs)), range(rs.map(r => r.cpuMs)), GOALS[cmd]]);
      const ph = rs.map(phases);
      breakdown.push([`\`${cmd}\``, b, ...ph[0].map((_, i) => fmt(median(ph.map(p => p[i])), 0))]);
    }
  }
  return [
    `### Start-up, start to exit: ms, median (min-max) of ${RUNS} runs each, alternating`,
    '',
    `CPU pressure (some, avg60) before the run ${pressureBefore}, after it ${cpuPressure()}.`,
    '',
    table(['command', 'build', 'wall clock', 'CPU (user+sys)', 'goal (wall)'], rows),
    '',
    '#### Where the time goes: median ms of each phase (PROCIMAGE_TIMING marks; phases overlap nothing, they follow one another)',
    '',
    table(['command', 'build', ...PHASES.map(([n]) => n), 'other', 'unmarked (script, exit)'], breakdown),
    '',
  ].join('\n');
}
