// schedule on the real kernel: per-thread scheduling delay with the system's beside it, consistent
// histograms, larger under one CPU hog per core than idle, through trace and through attach + ctl.
import { execFileSync, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { cpus } from 'node:os';
import { Attach, cli, idleMeter, idlestCpu, waitChildrenRunning, waitFor, workload } from './helpers.js';

type Sched = { type: 'sched'; pid: number; tgid: number; comm: string; scope: string; cpu: number | null; count: number;
  total_ns: number; avg_ns: number | null; min_ns: number | null; max_ns: number | null; hist_log2_ns: number[] };
const scheds = (out: string): Sched[] => out.trim().split('\n').filter(l => l.startsWith('{"type":"sched"')).map(l => JSON.parse(l));

/** The last figures of each scope/thread: the polls report cumulative figures since activation. */
function last(recs: Sched[], pred: (r: Sched) => boolean): Sched | undefined {
  return recs.filter(pred).at(-1);
}

function consistent(r: Sched): void {
  expect(r.hist_log2_ns.reduce((a, b) => a + b, 0)).toBe(r.count);
  expect(r.min_ns!).toBeLessThanOrEqual(r.avg_ns!);
  expect(r.avg_ns!).toBeLessThanOrEqual(r.max_ns!);
  expect(r.avg_ns!).toBeCloseTo(r.total_ns / r.count, 6);
  // the max falls in the histogram's last non-empty slot: [2^i, 2^(i+1))
  const top = r.hist_log2_ns.length - 1;
  expect(r.max_ns!).toBeLessThan(2 ** (top + 1));
  expect(r.max_ns!).toBeGreaterThanOrEqual(top === 0 ? 0 : 2 ** top);
}

/** Delays of a workload run by trace, on an idle machine or with one CPU hog per core. */
async function delayOf(loaded: boolean, argv: string[]): Promise<{ thread: Sched; system: Sched }> {
  const hogs = loaded ? spawn('stress-ng', ['-c', '0', '-t', '60', '--quiet'], { stdio: 'ignore', detached: true }) : undefined;
  try {
    if (hogs) await waitChildrenRunning(hogs.pid!, cpus().length); // the load is there before the trace
    const r = await cli(['trace', '--json', '-S', '--interval', '0.5', '--', workload(argv[0]), ...argv.slice(1)]);
    expect(r.code).toBe(0);
    const recs = scheds(r.stdout);
    const thread = last(recs, x => x.scope === 'thread' && x.comm === argv[0])!;
    const system = last(recs, x => x.scope === 'system')!;
    return { thread, system };
  } finally {
    if (hogs) process.kill(-hogs.pid!, 'SIGKILL');
  }
}

const live: Attach[] = [];
afterEach(async () => { for (const a of live.splice(0)) await a.cleanup(); });

describe('scheduling delay', () => {
  it('counts a delay per wakeup of the target, with consistent figures, and the system beside it', async () => {
    const { thread, system } = await delayOf(false, ['wakeups', '1000', '500']);
    // 1000 wakeups, plus preemptions; a wakeup that comes before the task has left its CPU has no delay
    expect(thread.count).toBeGreaterThanOrEqual(950);
    expect(thread.count).toBeLessThan(1100);
    consistent(thread);
    expect(system).toMatchObject({ pid: 0, tgid: 0, comm: '', scope: 'system', cpu: null });
    expect(system.count).toBeGreaterThan(thread.count); // everyone's delays, the target's among them
    consistent(system);
  });

  it('is larger for the target with one CPU hog per core than on an idle machine', async () => {
    // a target that computes and sleeps, like the slides' top: preempted, it waits behind the hogs
    const idle = await delayOf(false, ['runsleep', '10', '50']);
    const loaded = await delayOf(true, ['runsleep', '10', '50']);
    expect(loaded.thread.avg_ns!).toBeGreaterThan(idle.thread.avg_ns!);
    expect(loaded.system.avg_ns!).toBeGreaterThan(idle.system.avg_ns!);
  });

  it('attach -k -S then ctl -a -P TGID -k 1 -S on a running process', async () => {
    const a = await Attach.start(['-k', '-S', '--json']);
    live.push(a);
    const target = spawn(workload('wakeups'), ['100000', '1000'], { stdio: 'ignore' });
    try {
      expect((await a.ctl(['-a', '-P', String(target.pid), '-k', '1', '-S', '--interval', '0.2'])).code).toBe(0);
      const rec = await waitFor(() => (a.records() as unknown as Sched[])
        .filter(x => x.type === 'sched' && x.scope === 'thread' && x.pid === target.pid && x.count >= 100).at(-1), 'delays of the target');
      consistent(rec);
      expect(a.records().some(x => x.type === 'oncpu' && x.pid === target.pid)).toBe(true);
      expect(a.records().some(x => x.type === 'sched' && x.scope === 'system')).toBe(true);
      // back to ready: the kernel's per-thread table is empty again, the living target's entry too
      expect((await a.ctl(['-d'])).code).toBe(0);
      const dump = (m: string) => JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', `${a.pinDir}/maps/${m}`], { encoding: 'utf8' })) as unknown[];
      expect(dump('pi_sched_threads')).toEqual([]);
      // and, tidied once the daemon is ready again, keytime's per-activation maps (the final poll read them)
      await waitFor(() => ['offcpu_agg', 'stacks_seen', 'unwind_memos'].every(m => dump(m).length === 0) || undefined, 'keytime maps emptied');
    } finally {
      target.kill('SIGKILL');
    }
  });

  it('reports an exited thread once more, then drops it from the kernel table', async () => {
    // 30 children live and die at once; the parent then sleeps 1 s through several polls
    const r = await cli(['trace', '--json', '-k', '0', '-S', '--interval', '0.2', '--', 'sh', '-c', `${workload('forkloop')} 30; sleep 1`]);
    // (-k 0 only to know the children's pids: the kernel marks exited threads whatever the categories)
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map(l => JSON.parse(l));
    const children = new Set(lines.filter(x => x.type === 'exit' && x.comm === 'forkloop' && x.pid !== x.ppid).map(x => x.pid));
    expect(children.size).toBeGreaterThanOrEqual(30);
    const polls = [...new Set(lines.filter(x => x.type === 'sched').map(x => x.ts_ns as number))].sort((a, b) => a - b);
    expect(polls.length).toBeGreaterThanOrEqual(4);
    const inPoll = (t: number) => new Set(lines.filter(x => x.type === 'sched' && x.ts_ns === t).map(x => x.pid));
    const seen = polls.map(inPoll);
    expect([...children].some(pid => seen.some(s => s.has(pid)))).toBe(true); // their delays were reported
    for (const pid of children) expect(seen.at(-1)!.has(pid), `pid ${pid} still in the last poll`).toBe(false);
  });

  it("follows a CPU's idle task with -c", async () => {
    const cpu = await idlestCpu();
    const idled = idleMeter(cpu);
    const r = await cli(['trace', '--json', '-S', '-c', String(cpu), '--duration', '1.2', '--interval', '0.4']);
    expect(r.code).toBe(0);
    const idle = last(scheds(r.stdout), x => x.scope === 'thread');
    // a machine busy enough may not let the CPU idle at all (its idle ticks say so): then there is
    // no delay of the idle task to report, and none may be made up
    if (idled() < 2 && !idle) return;
    expect(idle).toMatchObject({ pid: 0, cpu });
    expect(idle!.count).toBeGreaterThan(0);
    consistent(idle!);
  });
});
