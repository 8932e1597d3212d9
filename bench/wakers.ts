// What keytime's waker and migration hooks (bpf/waker.bpf.h, bpf/migrate.bpf.h) cost (issue 18):
//  1. everyone else: a non-target's round trip over pipes on one CPU (two wake-ups, two switches),
//     while procimage collects keytime on another process with the hooks and without them
//     (PROCIMAGE_WAKERS=0), beside nothing and empty programs on the same hooks; and each program's
//     own run time (bpf_stats) there;
//  2. a target: two threads passing a futex back and forth on one CPU (workloads/futexpong, every
//     sleep woken by the other, a waker record with a user stack each), traced -k 1 --stack dwarf
//     with and without the hooks, beside the target untraced.
// Modes are rotated each round; medians and the spread of the rounds.
//   tsx bench/run.ts wakers      (WAKERS_ROUNDS, default 7)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BpfObject, type Link } from '../src/bpf/index.js';
import { BackgroundAttach, CLI, GATE, benchObject, fmt, median, quantile, run, sleep, table, waitFor, workload } from './lib.js';
import { interrupt, start } from './oracles.js';

const ROUNDS = Number(process.env.WAKERS_ROUNDS ?? 7);
const TRIPS = '100000';
const FUTEX_TRIPS = '200000';

const roundTrip = () => Number(run('taskset', ['-c', '1', workload('pingpong'), TRIPS]).trim());

const HOOKS = ['empty_sched_switch', 'empty_sched_waking', 'empty_sched_migrate_task'];

async function withEmpty<T>(names: string[], fn: (fds: number[]) => Promise<T>): Promise<T> {
  const obj = BpfObject.open(benchObject('empty'));
  for (const p of obj.programs()) p.setAutoload(names.includes(p.name));
  obj.load();
  const links: Link[] = names.map(n => obj.program(n).attach());
  try {
    return await fn(names.map(n => obj.program(n).fd));
  } finally {
    for (const l of links) l.close();
    obj.close();
  }
}

/** A procimage attach with the waker hooks or without them (the variable is read when it starts). */
async function attach(wakers: boolean, tag: string): Promise<BackgroundAttach> {
  const before = process.env.PROCIMAGE_WAKERS;
  if (!wakers) process.env.PROCIMAGE_WAKERS = '0';
  try {
    return await BackgroundAttach.start(['-k'], `/sys/fs/bpf/procimage-bench-wakers-${tag}-${process.pid}`);
  } finally {
    if (before === undefined) delete process.env.PROCIMAGE_WAKERS; else process.env.PROCIMAGE_WAKERS = before;
  }
}

const spread = (xs: number[]) => `${fmt(quantile(xs, 0), 1)}-${fmt(quantile(xs, 1), 1)}`;

interface ProgRun { ns: number; runs: number }
const statsOf = (id: number): ProgRun => {
  const j = JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'id', String(id)])) as { run_time_ns?: number; run_cnt?: number };
  return { ns: j.run_time_ns ?? 0, runs: j.run_cnt ?? 0 };
};
const pinnedId = (a: BackgroundAttach, name: string) =>
  (JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'pinned', `${a.pinDir}/progs/${name}`])) as { id: number }).id;
const fdId = (fd: number) => Number(/prog_id:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]);

async function nonTarget(): Promise<string> {
  const target = spawn('sleep', ['3600'], { stdio: 'ignore' });
  const withW = await attach(true, 'on'), without = await attach(false, 'off');
  const pid = String(target.pid);
  const modes = ['none', 'empty programs on sched_switch', 'empty programs on sched_switch, sched_waking, sched_migrate_task',
    '-k 1 without the waker hooks (another target)', '-k 1 (another target)'] as const;
  const s: Record<string, number[]> = Object.fromEntries(modes.map(m => [m, []]));
  // per-run ns of each program, over the -k 1 rounds (bpf_stats)
  const perRun = new Map<string, { ns: number; runs: number }>();
  const account = (name: string, a: ProgRun, b: ProgRun) => {
    const t = perRun.get(name) ?? { ns: 0, runs: 0 };
    perRun.set(name, { ns: t.ns + b.ns - a.ns, runs: t.runs + b.runs - a.runs });
  };
  const measured = async (names: string[], ids: number[], fn: () => number): Promise<number> => {
    const a = ids.map(statsOf);
    const x = fn();
    ids.forEach((id, i) => account(names[i], a[i], statsOf(id)));
    return x;
  };
  run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
  try {
    const progs = ['keytime_switch', 'keytime_waking', 'keytime_migrate'];
    const idsOn = progs.map(n => pinnedId(withW, n)), idOffSwitch = pinnedId(without, 'keytime_switch');
    const jobs: Array<[typeof modes[number], () => Promise<number>]> = [
      [modes[0], async () => roundTrip()],
      [modes[1], () => withEmpty(HOOKS.slice(0, 1), async fds => measured(['empty sched_switch'], fds.map(fdId), roundTrip))],
      [modes[2], () => withEmpty(HOOKS, async fds => measured(HOOKS.map(h => `empty ${h.slice(6)}`), fds.map(fdId), roundTrip))],
      [modes[3], async () => {
        without.ctl(['-a', '-P', pid, '-k', '1']);
        try { return await measured(['keytime_switch (no waker hooks)'], [idOffSwitch], roundTrip); } finally { without.ctl(['-d']); }
      }],
      [modes[4], async () => {
        withW.ctl(['-a', '-P', pid, '-k', '1']);
        try { return await measured(progs, idsOn, roundTrip); } finally { withW.ctl(['-d']); }
      }],
    ];
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < jobs.length; k++) { // rotated: each mode takes each place in turn
        const [m, job] = jobs[(k + r) % jobs.length];
        await sleep(200);
        s[m].push(await job());
      }
    }
  } finally {
    run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=0']);
    await withW.finish();
    await without.finish();
    target.kill('SIGKILL');
  }
  const none = median(s[modes[0]]);
  const rows = modes.map(m => {
    const med = median(s[m]);
    return [m, fmt(med), spread(s[m]), fmt(med - none), `${fmt(((med - none) / none) * 100, 1)}%`];
  });
  const progRows = [...perRun].map(([name, t]) => [name, fmt(t.ns / Math.max(1, t.runs), 1), String(Math.round(t.runs / ROUNDS))]);
  return `### A non-target's round trip over pipes on one CPU (2 wake-ups + 2 switches), ns: median of ${ROUNDS} rounds of ${TRIPS}, modes rotated\n\n` +
    table(['while', 'ns per round trip (median)', 'min-max', '+ns', 'overhead'], rows) + '\n\n' +
    '#### The programs alone there: ns per run (bpf_stats, which adds its own ~40-50 ns to every run, empty ones too)\n\n' +
    table(['program', 'ns per run', 'runs per round'], progRows) + '\n';
}

/** One futexpong run (taskset -c 0), traced with args or not: ns per round trip, and the summary. */
async function futexOnce(args: string[] | undefined, wakers: boolean): Promise<{ ns: number; out: string }> {
  const argv = ['taskset', '-c', '0', workload('futexpong'), FUTEX_TRIPS];
  const cmd = args ? [CLI, 'trace', ...args, '--', ...argv] : argv;
  // the records (--json) are not kept: futexpong's figure and procimage's summary are on stderr
  const p = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...(wakers ? {} : { PROCIMAGE_WAKERS: '0' }) } });
  let err = '';
  p.stderr!.setEncoding('utf8').on('data', d => { err += d; });
  await new Promise(r => p.on('close', r));
  const m = /([\d.]+) ns per round trip/.exec(err);
  return { ns: m ? Number(m[1]) : NaN, out: err };
}

async function target(): Promise<string> {
  const modes: Array<[string, string[] | undefined, boolean]> = [
    ['not traced', undefined, true],
    ['-k 1 --stack dwarf, without the waker hooks', ['-k', '1', '--stack', 'dwarf'], false],
    ['-k 1 --stack dwarf', ['-k', '1', '--stack', 'dwarf'], true],
    ['-k 1 --stack fp, without the waker hooks', ['-k', '1', '--stack', 'fp'], false],
    ['-k 1 --stack fp', ['-k', '1', '--stack', 'fp'], true],
  ];
  const s = new Map<string, number[]>(modes.map(([m]) => [m, []]));
  const ratio = new Map<string, number[]>(modes.map(([m]) => [m, []]));
  const kernel = new Map<string, string>();
  for (let r = 0; r < ROUNDS; r++) {
    const got = new Map<string, number>();
    for (let k = 0; k < modes.length; k++) {
      const [m, args, wakers] = modes[(k + r) % modes.length];
      await sleep(200);
      const x = await futexOnce(args ? [...args, '--json'] : undefined, wakers);
      got.set(m, x.ns);
      s.get(m)!.push(x.ns);
      const line = /^kernel +(.*)$/m.exec(x.out);
      if (line) kernel.set(m, line[1]);
    }
    for (const [m] of modes) ratio.get(m)!.push(got.get(m)! / got.get('not traced')!);
  }
  const rows = modes.map(([m]) => [m, fmt(median(s.get(m)!), 0), spread(s.get(m)!), `${fmt(median(ratio.get(m)!), 2)}x`,
    ratio.get(m)!.map(x => fmt(x, 2)).join(', '), kernel.get(m) ?? '-']);
  return `### A target: \`taskset -c 0 workloads/futexpong ${FUTEX_TRIPS}\` (two threads, each sleep woken by the other), ${ROUNDS} rounds, modes rotated\n\n` +
    table(['mode', 'ns per round trip (median)', 'min-max', 'vs not traced (median)', 'each round', 'kernel records (last round)'], rows) + '\n';
}

/**
 * wakeuptime's output: blocked µs by (target comm, waker comm, the waker's kernel stack), summed here
 * by (target, waker). It stamps the sleep at sched_switch and its end at sched_wakeup, as `current`
 * there: the same span as procimage's switch-out to wake-up.
 */
function wakeuptimeTotals(out: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const b of out.split(/\n\s*\n/)) {
    const t = /target:\s+(\S+)/.exec(b), w = /waker:\s+(\S+)\s*\n\s*(\d+)/.exec(b);
    if (t && w) m.set(`${t[1]} <- ${w[1]}`, (m.get(`${t[1]} <- ${w[1]}`) ?? 0) + Number(w[2]));
  }
  return m;
}

const ORACLE_ITEMS = '1000';
/**
 * wakeuptime keys its totals by the waker's kernel stack id from a stack map (1024 slots by default,
 * no BPF_F_REUSE_STACKID): a stack whose bucket another holds gets no id, and its whole total is
 * dropped at print ("missed kernel stack"). A larger map keeps such collisions rare.
 */
const WT_STACKS = 65536;

/** Against libbpf-tools' wakeuptime -p on the same run: blocked time by (sleeper, waker). */
async function oracle(): Promise<string> {
  const target = spawn(GATE, ['3', workload('wakechain'), 'condvar', ORACLE_ITEMS], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  const pid = target.pid!;
  const exited = new Promise(r => target.once('exit', r));
  const pi = start(CLI, ['trace', '--json', '-k', '0', '--stack', 'none', '-P', String(pid)]);
  let wt: ReturnType<typeof start> | undefined;
  try {
    await waitFor(() => pi.err.includes('collecting') || pi.out.includes('{'), 'procimage', 20_000).catch(() => sleep(2000));
    wt = start('wakeuptime', ['-p', String(pid), '--stack-storage-size', String(WT_STACKS)]);
    await sleep(3000); // it prints nothing we can wait for
    (target.stdio[3] as NodeJS.WritableStream).end('g');
    await exited;
    await sleep(500);
    await interrupt(wt);
    await interrupt(pi);
  } finally {
    target.kill('SIGKILL');
  }
  const recs = pi.out.trim().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as {
    type: string; tgid: number; comm: string; duration_ns: number | null;
    waker: { comm: string | null; context: string; wake_delay_ns: number } | null;
  });
  // procimage: blocked until the wake-up (the interval less its scheduling delay), by (sleeper, waker comm)
  const mine = new Map<string, { us: number; n: number }>();
  for (const r of recs) {
    if (r.type !== 'offcpu' || r.tgid !== pid || !r.waker || r.duration_ns === null) continue;
    const k = `${r.comm} <- ${r.waker.comm ?? '?'}`;
    const t = mine.get(k) ?? { us: 0, n: 0 };
    t.us += (r.duration_ns - r.waker.wake_delay_ns) / 1e3;
    t.n++;
    mine.set(k, t);
  }
  const theirs = wakeuptimeTotals(wt!.out);
  const keys = [...new Set([...mine.keys(), ...theirs.keys()])].filter(k => /^(producer|consumer) </.test(k))
    .sort((a, b) => (theirs.get(b) ?? 0) - (theirs.get(a) ?? 0));
  const rows = keys.map(k => {
    const a = mine.get(k), b = theirs.get(k);
    return [k, a ? String(a.n) : '-', a ? fmt(a.us / 1e3, 3) : '-', b === undefined ? '-' : fmt(b / 1e3, 3),
      a && b ? `${fmt(((a.us - b) / b) * 100, 2)}%` : '-'];
  });
  return `### Against wakeuptime -p: \`workloads/wakechain condvar ${ORACLE_ITEMS}\` (a producer hands an item every 2 ms to a consumer), blocked time by sleeper and waker\n\n` +
    table(['sleeper <- waker (comm)', 'procimage wake-ups', 'procimage blocked ms', 'wakeuptime blocked ms', 'difference'], rows) + '\n';
}

export async function wakersBench(): Promise<string> {
  const parts = (process.env.WAKERS_PARTS ?? 'nontarget,target,oracle').split(',');
  const out: string[] = [];
  if (parts.includes('nontarget')) out.push(await nonTarget());
  if (parts.includes('target')) out.push(await target());
  if (parts.includes('oracle')) out.push(await oracle());
  return out.join('\n');
}
