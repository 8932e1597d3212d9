// What keytime and schedule cost everyone else: the round trip of two processes passing a byte over
// pipes on one CPU (two wakeups, two context switches), while procimage collects on a different
// process; beside it nothing, empty programs on the same hooks (the floor for any tool hooked
// there), and the libbpf-tools that do the same jobs, runqlat and offcputime. Then, for a target,
// what each --stack mode costs per switch-out and how deep its stacks go.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { BpfObject, type Link } from '../src/bpf/index.js';
import { BackgroundAttach, GATE, benchObject, fmt, median, run, sleep, stop, table, workload } from './lib.js';

const TRIPS = '100000';
const ROUNDS = 5;

const roundTrip = () => Number(run('taskset', ['-c', '1', workload('pingpong'), TRIPS]).trim());

const EMPTY = ['empty_sched_switch', 'empty_sched_wakeup', 'empty_sched_wakeup_new'];

async function withEmptyHooks<T>(fn: (progFds: number[]) => Promise<T>): Promise<T> {
  const obj = BpfObject.open(benchObject('empty'));
  for (const p of obj.programs()) p.setAutoload(EMPTY.includes(p.name));
  obj.load();
  const links: Link[] = EMPTY.map(n => obj.program(n).attach());
  try {
    return await fn(EMPTY.map(n => obj.program(n).fd));
  } finally {
    for (const l of links) l.close();
    obj.close();
  }
}

async function withTool<T>(cmd: string, args: string[], fn: () => Promise<T>): Promise<T> {
  const p: ChildProcess = spawn(cmd, args, { stdio: 'ignore' });
  await sleep(2500); // loaded and attached (they say nothing we can wait for through a pipe)
  try {
    return await fn();
  } finally {
    await stop(p);
  }
}

async function contextSwitchCost(): Promise<string> {
  const target = spawn('sleep', ['3600'], { stdio: 'ignore' }); // the target: someone else
  const a = await BackgroundAttach.start(['-k', '-S']);
  const modes = ['none', 'empty programs on the 3 hooks', 'procimage -k 1 (another target)', 'procimage -k 1 -S (another target)',
    'runqlat (system-wide)', `offcputime -p (another pid)`] as const;
  const s: Record<string, number[]> = Object.fromEntries(modes.map(m => [m, []]));
  const pid = String(target.pid);
  try {
    for (let r = 0; r < ROUNDS; r++) {
      s[modes[0]].push(roundTrip());
      s[modes[1]].push(await withEmptyHooks(async () => roundTrip()));
      a.ctl(['-a', '-P', pid, '-k', '1']);
      s[modes[2]].push(roundTrip());
      a.ctl(['-d']);
      a.ctl(['-a', '-P', pid, '-k', '1', '-S']);
      s[modes[3]].push(roundTrip());
      a.ctl(['-d']);
      s[modes[4]].push(await withTool('runqlat', [], async () => roundTrip()));
      s[modes[5]].push(await withTool('offcputime', ['-p', pid], async () => roundTrip()));
    }
  } finally {
    await a.finish();
    target.kill('SIGKILL');
  }
  const none = median(s[modes[0]]), empty = median(s[modes[1]]) - none;
  const rows = modes.map(m => {
    const med = median(s[m]), extra = med - none;
    return [m, fmt(med), fmt(extra), `${fmt((extra / none) * 100, 1)}%`, m === 'none' ? '' : `${fmt(extra / empty, 2)}×`];
  });
  return `### A non-target's round trip over pipes on one CPU (2 wakeups + 2 switches), ns: median of ${ROUNDS} rounds of ${TRIPS}\n\n` +
    table(['while', 'ns per round trip', '+ns', 'overhead', 'vs empty programs'], rows) + '\n\n' + await programTime();
}

/** Run time per program run (kernel.bpf_stats_enabled) while a non-target ping-pongs. */
async function programTime(): Promise<string> {
  const statsById = (id: number) => JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'id', String(id)])) as { run_time_ns?: number; run_cnt?: number };
  const perRun = async (ids: number[]) => {
    const b = ids.map(statsById);
    roundTrip();
    const a = ids.map(statsById);
    return ids.map((_, i) => ((a[i].run_time_ns ?? 0) - (b[i].run_time_ns ?? 0)) / Math.max(1, (a[i].run_cnt ?? 0) - (b[i].run_cnt ?? 0)));
  };
  const idOf = (fd: number) => Number(/prog_id:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]);
  run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
  const rows: Array<Array<string | number>> = [];
  const target = spawn('sleep', ['3600'], { stdio: 'ignore' });
  try {
    const empty = await withEmptyHooks(async fds => perRun(fds.map(idOf)));
    rows.push(['empty programs', ...empty.map(x => fmt(x, 1))]);
    const a = await BackgroundAttach.start(['-k', '-S']);
    try {
      const ids = ['keytime_switch', 'schedule_wakeup', 'schedule_wakeup_new']
        .map(n => (JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'pinned', `${a.pinDir}/progs/${n}`])) as { id: number }).id);
      for (const cats of [['-k', '1'], ['-k', '1', '-S']]) {
        a.ctl(['-a', '-P', String(target.pid), ...cats]);
        const t = await perRun(ids);
        a.ctl(['-d']);
        rows.push([`procimage ${cats.join(' ')} (another target)`, ...t.map((x, i) => (cats.includes('-S') || i === 0 ? fmt(x, 1) : '(not attached)'))]);
      }
    } finally {
      await a.finish();
    }
  } finally {
    run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=0']);
    target.kill('SIGKILL');
  }
  return '#### The programs alone: ns per run (bpf_stats, which adds its own ~40-50 ns to every run, empty ones too)\n\n' +
    table(['programs', 'sched_switch', 'sched_wakeup', 'sched_wakeup_new'], rows) + '\n';
}

/**
 * What each --stack mode costs per capture, above taking no user stack: in the kernel (keytime_switch's
 * run time, bpf_stats) and in procimage (its CPU: unwinding, symbolizing), for a target that sleeps
 * 5000 times (so its switches are nearly all of the machine's); and how deep the stacks go.
 */
const STACK_ROUNDS = 3;
const SLEEPS = 5000;

async function stackModes(): Promise<string> {
  run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
  type Run = { intervals: number; kernelNs: number; cpuS: number; depth: number; toMain: number; sleeps: number };
  const runs: Record<string, Run[]> = { none: [], fp: [], dwarf: [] };
  try {
    for (let round = 0; round < STACK_ROUNDS; round++) {
      for (const mode of Object.keys(runs)) {
        const a = await BackgroundAttach.start(['-k', '--json']);
        try {
          const statsOf = () => JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'pinned', `${a.pinDir}/progs/keytime_switch`])) as
            { run_time_ns?: number };
          const proc = spawn(GATE, ['3', workload('wakeups'), String(SLEEPS), '500'], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
          a.ctl(['-a', '-P', String(proc.pid), '-k', '0', '--stack', mode]);
          await sleep(300);
          (proc.stdio[3] as NodeJS.WritableStream).end('g');
          // measured from 0.5 s in: the first stacks load the symbol files once (tens of ms), which
          // the steady cost per capture is not
          await sleep(500);
          const from = process.hrtime.bigint(), cpu0 = cpuOf(a.proc.pid!), before = statsOf();
          await new Promise(r => proc.once('exit', r));
          await sleep(300);
          const after = statsOf(), cpu = cpuOf(a.proc.pid!) - cpu0;
          a.ctl(['-d']);
          const recs = a.out.split('\n').filter(l => l.startsWith('{"type":"offcpu"')).map(l => JSON.parse(l)).filter(r => r.pid === proc.pid);
          const sleeps = recs.filter(r => r.state === 'S');
          // captures in the window: the switch-outs of the intervals that began in it
          const inWindow = recs.filter(r => r.start_ts_ns !== null && BigInt(r.start_ts_ns) >= from).length;
          runs[mode].push({
            intervals: inWindow, kernelNs: (after.run_time_ns ?? 0) - (before.run_time_ns ?? 0), cpuS: cpu,
            depth: sleeps.length ? sleeps.reduce((x, r) => x + r.ustack.length, 0) / sleeps.length : 0,
            toMain: sleeps.filter(r => r.ustack.some((f: string) => f.startsWith('main+'))).length, sleeps: sleeps.length,
          });
        } finally {
          await a.finish();
        }
      }
    }
  } finally {
    run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=0']);
  }
  // per mode: the median of each figure over the rounds (intervals, depth and stacks of the last run)
  const res: Record<string, Run> = {};
  for (const [mode, rs] of Object.entries(runs)) {
    res[mode] = { ...rs.at(-1)!, kernelNs: median(rs.map(r => r.kernelNs / r.intervals)), cpuS: median(rs.map(r => r.cpuS / r.intervals)) };
  }
  const none = res.none; // kernelNs and cpuS are per capture from here
  const rows = Object.entries(res).map(([mode, r]) => [mode, r.intervals,
    mode === 'none' ? '-' : fmt((r.kernelNs - none.kernelNs) / 1000, 2),
    mode === 'none' ? '-' : fmt((r.cpuS - none.cpuS) * 1e6, 1),
    fmt(r.depth, 1), `${r.toMain}/${r.sleeps}`]);
  return `### --stack modes: a target that sleeps 500 µs, ${SLEEPS} times (gcc -O2, no frame pointers)\n\n` +
    table(['mode', 'captures measured', 'kernel µs per capture, above none', 'procimage µs CPU per capture, above none',
      'user frames (sleeps)', 'sleep stacks reaching main'], rows) + '\n\n' +
    'Measured from 0.5 s after the target starts to its exit (the first stacks load symbol files once: not a per-capture cost).\n' +
    'Kernel: keytime_switch\'s run time (kernel.bpf_stats_enabled) over that window, minus what it was with --stack none.\n' +
    'procimage: the attach process\'s CPU time (its threads\' schedstat, ns) over that window, minus the same with --stack none.\n' +
    `Each figure: the median of ${STACK_ROUNDS} runs, the modes interleaved.\n`;
}

/**
 * CPU seconds of a process's threads, to the ns: the sum of their schedstat on-CPU times
 * (/proc/PID/stat's utime + stime come in 10 ms ticks, coarser than what a run of 2000 captures costs).
 */
function cpuOf(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try { ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]); } catch { /* gone */ }
  }
  return ns / 1e9;
}

export const schedBench = contextSwitchCost;
export const stacksBench = stackModes;

