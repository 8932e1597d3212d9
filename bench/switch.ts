// keytime on switch-heavy targets (issue 16, goal 1): what `trace -k 1` costs a target that does
// nothing but hand the CPU back and forth, by user-stack mode, beside the target untraced in the same
// round: the target's own figure, procimage's CPU and memory, records lost, how user stacks were
// unwound, and what keytime_switch costs the kernel per run (bpf_stats, from procimage's own fds).
//   tsx bench/run.ts switch
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStats } from '../src/bpf/index.js';
import { BpfObject } from '../src/bpf/index.js';
import { CLI, benchObject, fmt, median, run, sleep, table, workload } from './lib.js';
import { cpuSeconds, kernelLine, vmHwmMb } from './record.js';

const SECONDS = Number(process.env.SWITCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.SWITCH_ROUNDS ?? 2);

interface Target { name: string; argv: (seconds: number) => string[]; figure: (out: string) => number; unit: string }

const TARGETS: Target[] = [
  {
    name: '`taskset -c 0 stress-ng --switch 1` (two processes, a pipe)', unit: 'ns per switch',
    argv: s => ['taskset', '-c', '0', 'stress-ng', '--switch', '1', '-t', String(s), '--metrics-brief'],
    figure: out => Number(/switch\s+([\d.]+) nanosecs per context switch/.exec(out)?.[1] ?? NaN),
  },
  {
    // at a rate every mode keeps up with: what each costs per switch, with nothing dropped
    name: '`taskset -c 0 stress-ng --switch 1 --switch-freq 5000` (throttled)', unit: 'ns per switch',
    argv: s => ['taskset', '-c', '0', 'stress-ng', '--switch', '1', '--switch-freq', '5000', '-t', String(s), '--metrics-brief'],
    figure: out => Number(/switch\s+([\d.]+) nanosecs per context switch/.exec(out)?.[1] ?? NaN),
  },
  {
    name: '`taskset -c 0 workloads/futexpong` (two threads, a futex)', unit: 'ns per round trip',
    // ~4 µs a round trip untraced here: enough rounds to last the run untraced (the figures are taken over its middle)
    argv: s => ['taskset', '-c', '0', workload('futexpong'), String(Math.round(s * 250_000))],
    figure: out => Number(/([\d.]+) ns per round trip/.exec(out)?.[1] ?? NaN),
  },
];

/** The floor: empty programs on the hooks -k attaches (bench/bpf/empty_hooks.bpf.c), the target untraced. */
const FLOOR = ['floor'];
const FLOOR_PROGRAMS = ['empty_fork', 'empty_exec', 'empty_exit', 'empty_switch', 'empty_waking', 'empty_migrate'];

const ALL_MODES: Array<[string, string[] | undefined]> = [
  ['not traced', undefined],
  ['floor: empty programs on -k\'s hooks', FLOOR],
  ['-k 1 --stack dwarf --json', ['-k', '1', '--stack', 'dwarf', '--json']],
  // every interval one by one, with its stacks (the default before --offcpu-min)
  ['-k 1 --stack dwarf --offcpu-min 0 --json', ['-k', '1', '--stack', 'dwarf', '--offcpu-min', '0', '--json']],
  ['-k 1 --stack dwarf-copy --json', ['-k', '1', '--stack', 'dwarf-copy', '--json']],
  ['-k 1 --stack fp --json', ['-k', '1', '--stack', 'fp', '--json']],
  ['-k 1 --stack none --json', ['-k', '1', '--stack', 'none', '--json']],
  ['-k 1 --stack dwarf --record F', ['-k', '1', '--stack', 'dwarf']],
];
// for a quick look at a few: SWITCH_MODES=dwarf,none SWITCH_TARGETS=futexpong (the untraced run always)
const MODES = ALL_MODES.filter(([name, args]) => !args || args === FLOOR || !process.env.SWITCH_MODES ||
  process.env.SWITCH_MODES.split(',').some(m => name.includes(`--stack ${m} `) || name.endsWith(`--stack ${m}`)));

interface Result {
  figure: number; cpuPct: number; rssMb: number; lostPct: number; received: number;
  ustacks: string; switchNs: number;
}

/** Every BPF program procimage (pid) holds open: id, run time and runs, from its fds (bpf_stats on). */
function progStats(pid: number): Map<number, { ns: number; runs: number }> {
  const out = new Map<number, { ns: number; runs: number }>();
  for (const fd of safe(() => readdirSync(`/proc/${pid}/fdinfo`), [] as string[])) {
    const info = safe(() => readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'), '');
    const id = /prog_id:\s+(\d+)/.exec(info);
    // a program's fd has its run figures; a link's names the program too, without them
    if (id && /run_cnt:/.test(info)) out.set(Number(id[1]), { ns: Number(/run_time_ns:\s+(\d+)/.exec(info)?.[1] ?? 0), runs: Number(/run_cnt:\s+(\d+)/.exec(info)?.[1] ?? 0) });
  }
  return out;
}

function progName(id: number): string {
  return safe(() => (JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'id', String(id)])) as { name: string }).name, '');
}

function safe<T>(f: () => T, dflt: T): T {
  try { return f(); } catch { return dflt; }
}

/** One run of target, traced with args (or not); procimage's pid is the spawned one (bin/procimage execs node). */
async function once(target: Target, args: string[] | undefined, dir: string): Promise<Result> {
  if (args === FLOOR) {
    const hooks = BpfObject.open(benchObject('empty_hooks'));
    try {
      hooks.load();
      const links = FLOOR_PROGRAMS.map(p => hooks.program(p).attach());
      try {
        return await once(target, undefined, dir);
      } finally {
        await Promise.all(links.map(l => l.closeAsync()));
      }
    } finally {
      hooks.close();
    }
  }
  const rec = args && !args.includes('--json') ? join(dir, 'run.rec') : undefined;
  const argv = args ? [CLI, 'trace', ...args, ...(rec ? ['--record', rec] : []), '--', ...target.argv(SECONDS)] : target.argv(SECONDS);
  const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  p.stderr!.setEncoding('utf8').on('data', d => { out += d; });
  const done = new Promise(r => p.on('close', r));
  await sleep(1000);
  const c0 = cpuSeconds(p.pid!), t0 = performance.now();
  const s0 = args ? progStats(p.pid!) : new Map();
  await sleep((SECONDS - 2) * 1000);
  const cpuPct = args ? ((cpuSeconds(p.pid!) - c0) / ((performance.now() - t0) / 1000)) * 100 : NaN;
  const s1 = args ? progStats(p.pid!) : new Map();
  // while it runs: its programs go with it
  const switchProg = [...s1.keys()].find(id => progName(id) === 'keytime_switch');
  let rssMb = NaN;
  const hwm = setInterval(() => { const v = vmHwmMb(p.pid!); if (!Number.isNaN(v)) rssMb = v; }, 50);
  await done;
  clearInterval(hwm);
  let switchNs = NaN;
  if (switchProg !== undefined) {
    const a = s0.get(switchProg) ?? { ns: 0, runs: 0 }, b = s1.get(switchProg)!;
    if (b.runs > a.runs) switchNs = (b.ns - a.ns) / (b.runs - a.runs);
  }
  const summary = rec ? run(CLI, ['report', '--summary', rec]) : out;
  const k = kernelLine(summary);
  const ustacks = /^ustacks +(\d+) unwound in the kernel, (\d+) from stack copies/m.exec(summary);
  return {
    figure: target.figure(out), cpuPct, rssMb, lostPct: (100 * k.lost) / Math.max(1, k.sent + k.lost), received: k.delivered,
    ustacks: ustacks ? `${ustacks[1]} / ${ustacks[2]}` : '-', switchNs,
  };
}

async function targetTable(target: Target, dir: string): Promise<string> {
  const results = new Map<string, Result[]>(MODES.map(([m]) => [m, []]));
  const ratios = new Map<string, number[]>(MODES.map(([m]) => [m, []]));
  const floors = new Map<string, number[]>(MODES.map(([m]) => [m, []]));
  for (let round = 0; round < ROUNDS; round++) {
    let base = NaN, floor = NaN;
    for (const [name, args] of MODES) { // modes interleaved: each round's ratios are to its own untraced run
      const r = await once(target, args, dir);
      if (!args) base = r.figure;
      if (args === FLOOR) floor = r.figure;
      results.get(name)!.push(r);
      ratios.get(name)!.push(r.figure / base);
      floors.get(name)!.push(r.figure / floor);
    }
  }
  const rows = MODES.map(([name, args]) => {
    const rs = results.get(name)!;
    const traced = args && args !== FLOOR;
    const each = (f: (r: Result) => string) => (traced ? rs.map(f).join(', ') : '-');
    return [name, fmt(median(rs.map(r => r.figure)), 0), args ? ratios.get(name)!.map(x => `${fmt(x, 2)}x`).join(', ') : '-',
      traced ? floors.get(name)!.map(x => `${fmt(x, 2)}x`).join(', ') : '-',
      each(r => fmt(r.cpuPct, 0)), each(r => fmt(r.rssMb, 0)), each(r => fmt(r.received / 1e3, 0)), each(r => `${fmt(r.lostPct, 1)}%`),
      each(r => r.ustacks), each(r => fmt(r.switchNs, 0))];
  });
  return `### ${target.name}, ${SECONDS} s, ${ROUNDS} rounds (modes interleaved)\n\n` +
    table([`mode`, `${target.unit} (median)`, 'vs not traced (each round)', 'vs the floor', 'procimage CPU %', 'peak RSS MB', 'thousand records received',
      'records lost', 'user stacks: kernel / copies', 'keytime_switch ns per run (all switches)'], rows) + '\n';
}

export async function switchBench(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'procimage-switch-'));
  // on while this handle is open, whatever anyone does with the sysctl meanwhile
  const stats = RunStats.enable();
  try {
    let out = '';
    for (const t of TARGETS.filter(x => !process.env.SWITCH_TARGETS || process.env.SWITCH_TARGETS.split(',').some(n => x.name.includes(n)))) {
      out += await targetTable(t, dir) + '\n';
    }
    return out + 'The target\'s figure is its own (stress-ng\'s --metrics-brief, futexpong\'s output). procimage\'s CPU: utime + stime ' +
      'from /proc over the middle of the run (1 s after start to 1 s before the end), in % of one core. Records: the summary\'s ' +
      'kernel line (lost: dropped over sent + dropped). User stacks: the summary\'s ustacks line. keytime_switch: run time over runs ' +
      'from procimage\'s own program fds over the middle of the run, with bpf_stats on (which adds ~40-50 ns to every run).\n';
  } finally {
    stats.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
