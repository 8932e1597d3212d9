// What the syscall and lock categories cost, side by side in one run, modes interleaved per round:
//  - a cheap syscall (getppid) of the target with -s 50 active, of a process that is not the target
//    while it is active, with nothing attached, and with empty programs on the same two hooks (the
//    floor: SPEC says non-targets pay <= 1.1x that, a target under -s <= 1.5x), and with programs
//    that only read the clock there (what timing every call costs at the least); -l alone on the
//    same hooks (no system counts);
//    and libbpf-tools' syscount doing the same job (counts and latency of one process: -L -p);
//  - an uncontended pthread_mutex_lock/unlock pair with -l active on it, on another process, with
//    nothing attached, and with empty programs on the same uprobes (the floor).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { BPF_TRACE_UPROBE_MULTI, BpfObject, type Link } from '../src/bpf/index.js';
import { findPthreadLibrary } from '../src/collect/libc-uprobes.js';
import { BackgroundAttach, GATE, benchObject, fmt, median, run, stop, table, waitFor, workload } from './lib.js';

const SYSCALLS = '2000000';
const PAIRS = '2000000';
/** Each probed pair costs tens of µs on this VM (traps): fewer pairs, the same ns per pair. */
const PROBED_PAIRS = '100000';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15); // fewer for a quick look
// pinned to one CPU: migrations between the two vCPUs were the largest source of noise
const pinned = (name: string, n: string) => ['taskset', '-c', '1', workload(name), n];

/**
 * Runs argv and returns the ns per operation it prints, after a pause: what ran just before (a ctl
 * process starting and exiting, the attach daemon answering it, a link detached) perturbs the first
 * few hundred ms, and every mode gets the same quiet start (without it, modes measured right after a
 * ctl read ~10% of the empty programs' cost higher than the same modes measured after a pause).
 */
const SETTLE_MS = 300;
const pause = () => execFileSync('sleep', [String(SETTLE_MS / 1000)]);
const measure = (argv: string[]) => {
  pause();
  return parse(run(argv[0], argv.slice(1)));
};

/**
 * The ns per operation a workload printed; syscall_cost prints the thread's CPU ns per call beside the
 * wall ns, kept here for the table in CPU time (a machine shared with other work inflates the wall
 * figure whenever something else takes the CPU; the programs on the hooks run in the caller's time).
 */
let lastCpu: number | undefined;
function parse(out: string): number {
  const [wall, cpu] = out.trim().split(/\s+/).map(Number);
  lastCpu = cpu;
  return wall;
}

/** Starts argv behind the gate: its pid is known (to target it) before it runs. */
function gated(argv: string[]): { pid: number; open: () => Promise<number> } {
  const p = spawn(GATE, ['3', ...argv], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
  let out = '';
  p.stdout!.on('data', d => { out += d; });
  const done = new Promise<number>(r => p.on('close', () => r(parse(out))));
  return { pid: p.pid!, open: () => { (p.stdio[3] as NodeJS.WritableStream).end('g'); return done; } };
}

/** As the target of a procimage activation. */
async function asTarget(a: BackgroundAttach, argv: string[], cats: string[]): Promise<number> {
  const g = gated(argv);
  a.ctl(['-a', '-P', String(g.pid), ...cats]);
  pause();
  const v = await g.open();
  a.ctl(['-d']);
  return v;
}

/** While a procimage activation targets another process. */
function besideTarget(a: BackgroundAttach, other: number, argv: string[], cats: string[]): number {
  a.ctl(['-a', '-P', String(other), ...cats]);
  try {
    return measure(argv);
  } finally {
    a.ctl(['-d']);
  }
}

/** syscount -L -p pid (counts and latency of one process), ready to trace. */
async function syscount(pid: number): Promise<ChildProcess> {
  const p = spawn('stdbuf', ['-oL', 'syscount', '-L', '-p', String(pid)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout!.on('data', d => { out += d; });
  await waitFor(() => out.includes('Tracing syscalls'), 'syscount to be ready');
  return p;
}

/** BENCH_BASELINE: another build's bin/procimage, its -s 50 target beside this one's (before/after in one run). */
const BASELINE = process.env.BENCH_BASELINE;

function withEmptyPrograms(fn: () => number, object = 'empty_syscalls'): number {
  const obj = BpfObject.open(benchObject(object));
  obj.load();
  const links: Link[] = [];
  try {
    for (const p of obj.programs()) links.push(p.attach());
    return fn();
  } finally {
    for (const l of links) l.close();
    obj.close();
  }
}

/** Empty programs on every offset lock's probes use, in the gated process pid: the uprobe floor. */
async function withEmptyUprobes(argv: string[]): Promise<number> {
  const g = gated(argv);
  const plan = findPthreadLibrary(g.pid);
  if (!plan) throw new Error(`no libc in process ${g.pid}`);
  const obj = BpfObject.open(benchObject('empty_uprobes'));
  for (const p of obj.programs()) p.setExpectedAttachType(BPF_TRACE_UPROBE_MULTI);
  obj.load();
  const links = [
    obj.program('empty_uprobe').attachUprobeMulti({ binary: plan.openPath, offsets: plan.entries.map(p => p.offset),
      cookies: plan.entries.map(() => 0), pid: g.pid }),
    obj.program('empty_uretprobe').attachUprobeMulti({ binary: plan.openPath, offsets: plan.returns.map(p => p.offset),
      cookies: plan.returns.map(() => 0), pid: g.pid, retprobe: true }),
  ];
  try {
    pause();
    return await g.open();
  } finally {
    await Promise.all(links.map(l => l.closeAsync()));
    obj.close();
  }
}

type Row = Array<string | number>;

function summarize(samples: Record<string, number[]>, base: string, floor?: string): Row[] {
  const b = median(samples[base]);
  const f = floor ? median(samples[floor]) - b : undefined;
  return Object.entries(samples).map(([mode, xs]) => {
    const m = median(xs);
    const row: Row = [mode, fmt(m), fmt(Math.min(...xs)), fmt(Math.max(...xs)), fmt(m - b)];
    if (f !== undefined) row.push(mode === base ? '-' : `${fmt((m - b) / f, 2)}x`);
    return row;
  });
}

/**
 * ROUNDS samples of each mode, the order rotated every round so that no mode always follows the
 * same one (what runs before a measurement, a link detached, a ctl start-up, leaves its trace).
 */
async function rounds(modes: Record<string, () => Promise<number> | number>):
  Promise<{ wall: Record<string, number[]>; cpu: Record<string, number[]> }> {
  const names = Object.keys(modes);
  const wall: Record<string, number[]> = Object.fromEntries(names.map(n => [n, []]));
  const cpu: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(i + r) % names.length];
      lastCpu = undefined;
      wall[n].push(await modes[n]());
      if (lastCpu !== undefined) (cpu[n] ??= []).push(lastCpu);
    }
  }
  // in the modes' order, as the wall table
  return { wall, cpu: Object.fromEntries(names.filter(n => cpu[n]).map(n => [n, cpu[n]])) };
}

export async function syscallLockBench(): Promise<string> {
  const a = await BackgroundAttach.start(['-s', '-l']);
  const base = BASELINE ? await BackgroundAttach.start(['-s', '-l'], `/sys/fs/bpf/procimage-bench-base-${process.pid}`, BASELINE) : undefined;
  const sleeper = spawn('sleep', ['3600'], { stdio: 'ignore' });
  const cost = () => measure(pinned('syscall_cost', SYSCALLS));
  const pair = () => measure(pinned('mutex_cost', PAIRS));
  const other = () => sleeper.pid!;
  const scModes: Record<string, () => Promise<number> | number> = {
    'none': cost,
    'empty programs on sys_enter + sys_exit': () => withEmptyPrograms(cost),
    'programs that read the clock, on sys_enter + sys_exit': () => withEmptyPrograms(cost, 'clock_syscalls'),
    'non-target, -s 50 active': () => besideTarget(a, other(), pinned('syscall_cost', SYSCALLS), ['-s', '50']),
    'non-target, -l active (futex tracepoints only)': () => besideTarget(a, other(), pinned('syscall_cost', SYSCALLS), ['-l']),
    'target, -s 50 active': () => asTarget(a, pinned('syscall_cost', SYSCALLS), ['-s', '50']),
    'target, -s 10 active': () => asTarget(a, pinned('syscall_cost', SYSCALLS), ['-s', '10']),
    ...(base ? {
      'target, -s 50 active, baseline build': () => asTarget(base, pinned('syscall_cost', SYSCALLS), ['-s', '50']),
      'non-target, -s 50 active, baseline build': () => besideTarget(base, other(), pinned('syscall_cost', SYSCALLS), ['-s', '50']),
    } : {}),
    'non-target, syscount -L -p other': async () => {
      const sc = await syscount(other());
      try { return cost(); } finally { await stop(sc); }
    },
    'target, syscount -L -p it': async () => {
      const g = gated(pinned('syscall_cost', SYSCALLS));
      const sc = await syscount(g.pid);
      pause();
      try { return await g.open(); } finally { await stop(sc); }
    },
  };
  const mxModes: Record<string, () => Promise<number> | number> = {
    'none': pair,
    'empty programs on the same uprobes': () => withEmptyUprobes(pinned('mutex_cost', PROBED_PAIRS)),
    '-l active on it (target)': () => asTarget(a, pinned('mutex_cost', PROBED_PAIRS), ['-l']),
    '-l active on another process': () => besideTarget(a, other(), pinned('mutex_cost', PAIRS), ['-l']),
  };
  let sc: { wall: Record<string, number[]>; cpu: Record<string, number[]> }, mx: { wall: Record<string, number[]> };
  try {
    sc = await rounds(scModes);
    mx = await rounds(mxModes);
  } finally {
    await stop(sleeper);
    await a.finish();
    await base?.finish();
  }
  return `### syscall and lock: cost of a getppid syscall, ns per call (median of ${ROUNDS} rounds of ${SYSCALLS} calls)\n\n` +
    table(['mode', 'median', 'min', 'max', '+ns vs none', 'x empty programs'],
      summarize(sc.wall, 'none', 'empty programs on sys_enter + sys_exit')) + '\n\n' +
    '#### The same calls in CPU time: the calling thread\'s own, ns per call (the same runs)\n\n' +
    table(['mode', 'median', 'min', 'max', '+ns vs none', 'x empty programs'],
      summarize(sc.cpu, 'none', 'empty programs on sys_enter + sys_exit')) + '\n\n' +
    '"x empty programs": the added cost as a multiple of what two empty tp_btf programs on the same hooks add ' +
    '(the physical limit; SPEC: non-targets <= 1.1x, a target under -s <= 1.5x).\n' +
    '"programs that read the clock": one bpf_ktime_get_ns() each, nothing else: the least that timing every call costs.\n' +
    '"-l active": without -s, futex waits come from syscalls:sys_enter_futex/sys_exit_futex, not from programs on sys_enter/sys_exit.\n' +
    `Modes rotate their order every round; each measurement starts ${SETTLE_MS} ms after what set it up.\n` +
    'syscount -L -p: libbpf-tools, counts and latency of one process (classic tracepoints on sys_enter and sys_exit).\n\n' +
    `### lock: an uncontended pthread_mutex_lock + unlock pair, ns per pair (median of ${ROUNDS} rounds; ` +
    `${PAIRS} pairs unprobed, ${PROBED_PAIRS} probed)\n\n` +
    table(['mode', 'median', 'min', 'max', '+ns vs none', 'x empty programs'],
      summarize(mx.wall, 'none', 'empty programs on the same uprobes')) + '\n\n' +
    '"empty programs on the same uprobes": programs that return at once on every offset -l probes (three traps a pair:\n' +
    'lock entry, lock return, unlock entry), the floor of any uprobe-based lock tracing.\n' +
    '"on another process": the uprobes are attached with the target\'s pid, so this process runs its libc untouched.\n';
}
