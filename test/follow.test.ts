// Every category follows the processes a thread-group target starts, through the programs they exec:
// `trace CAT -- sh -c 'true; W; true'` (the shell forks W, which execs) reports W as `trace CAT -- W`
// does. The figures compared are the ones a workload makes the same each run.
import { describe, expect, it } from 'vitest';
import { cli, workload } from './helpers.js';

type Rec = Record<string, unknown> & { type: string; pid: number; tgid: number; comm: string };

/** Runs trace with args on cmd, directly and behind `sh -c 'true; cmd; true'`: the records of each. */
async function bothWays(args: string[], cmd: string[]): Promise<{ direct: Rec[]; shell: Rec[]; stderr: string }> {
  const run = async (c: string[]) => {
    const r = await cli(['trace', '--json', ...args, '--', ...c], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    return { recs: r.stdout.trim().split('\n').filter(Boolean).map(l => JSON.parse(l)) as Rec[], stderr: r.stderr };
  };
  const direct = await run(cmd);
  const shell = await run(['sh', '-c', `true; ${cmd.join(' ')}; true`]);
  return { direct: direct.recs, shell: shell.recs, stderr: shell.stderr };
}

/** The records of the process named comm (one process of that name in the run). */
const of = (recs: Rec[], comm: string) => recs.filter(r => r.comm === comm);

describe('every category follows a child that execs', () => {
  it('-l: the exec\'d program\'s pthread locks, as when traced directly (its uprobes attached while it is held at exec)', async () => {
    const { direct, shell, stderr } = await bothWays(['-l', '--interval', '0.1'], [workload('locks'), 'mutex', '3', '20', '100']);
    // the workload's own lock (its address is in its output), per thread: every acquisition and hold
    const mine = (recs: Rec[]) => {
      const last = new Map<string, Rec>();
      for (const r of of(recs, 'locks')) if (r.type === 'lock' && r.source === 'pthread' && r.kind === 'mutex') last.set(`${r.addr}:${r.pid}`, r);
      const all = [...last.values()];
      const hot = all.filter(r => (r.acquisitions as number) === 20);
      return hot.map(r => [r.acquisitions, r.hold_count, r.failed]).sort();
    };
    expect(mine(direct)).toEqual([[20, 20, 0], [20, 20, 0], [20, 20, 0]]);
    expect(mine(shell), stderr).toEqual(mine(direct));
    // the shell's process and the workload's are two processes: the workload's locks are its own
    const lockTgids = new Set(of(shell, 'locks').filter(r => r.type === 'lock').map(r => r.tgid));
    expect(lockTgids.size).toBe(1);
    expect(stderr).not.toMatch(/cannot probe/);
  });

  it('-s: the exec\'d program\'s syscalls, counted as when traced directly', async () => {
    const { direct, shell } = await bothWays(['-s', '10'], [workload('syscall_pattern'), '50']);
    const counts = (recs: Rec[]) => {
      const last = new Map<string, number>();
      for (const r of of(recs, 'syscall_pattern')) {
        if (r.type === 'syscall_stat' && r.scope === 'thread') last.set(r.syscall as string, r.count as number);
      }
      return Object.fromEntries(['getppid', 'chdir', 'getcwd', 'dup', 'sched_yield'].map(s => [s, last.get(s)]));
    };
    expect(counts(direct)).toEqual({ getppid: 50, chdir: 50, getcwd: 50, dup: 50, sched_yield: 50 });
    expect(counts(shell)).toEqual(counts(direct));
    expect(of(shell, 'syscall_pattern').some(r => r.type === 'syscall_seq')).toBe(true);
  });

  it('-r: the exec\'d program\'s resource figures, as when traced directly', async () => {
    const { direct, shell } = await bothWays(['-r'], [workload('syscall_pattern'), '50']);
    const figures = (recs: Rec[]) => {
      const p = of(recs, 'syscall_pattern').filter(r => r.type === 'resource' && r.scope === 'process').at(-1);
      return p && { exited: p.exited, read_syscalls: p.read_syscalls, write_syscalls: p.write_syscalls, io_read_bytes: p.io_read_bytes };
    };
    const d = figures(direct)!;
    expect(d).toBeDefined();
    // traced directly, the process is the gate's before its exec: it read the gate's one byte too
    expect(figures(shell)).toEqual({ ...d, read_syscalls: (d.read_syscalls as number) - 1, io_read_bytes: (d.io_read_bytes as number) - 1 });
  });

  it('-S: the exec\'d program\'s scheduling delays, as when traced directly', async () => {
    // runsleep 3 10: three wakeups from nanosleep after exec, each one a delay in the run queue
    const { direct, shell } = await bothWays(['-S'], [workload('runsleep'), '3', '10']);
    for (const recs of [direct, shell]) {
      const s = of(recs, 'runsleep').filter(r => r.type === 'sched' && r.scope === 'thread');
      expect(s.length, JSON.stringify(recs.filter(r => r.type === 'sched'))).toBeGreaterThan(0);
      expect(s.at(-1)!.count as number).toBeGreaterThanOrEqual(3);
    }
  });

  it('-k: the exec\'d program\'s exec, intervals and exit, as when traced directly', async () => {
    const { direct, shell } = await bothWays(['-k', '0'], [workload('syscall_pattern'), '50']);
    const life = (recs: Rec[]) => {
      const w = of(recs, 'syscall_pattern');
      const exec = w.find(r => r.type === 'exec');
      const exit = w.find(r => r.type === 'exit');
      return { argv: exec?.argv, exit_code: exit?.exit_code, process_exit: exit?.process_exit };
    };
    expect(life(direct)).toEqual({ argv: [workload('syscall_pattern'), '50'], exit_code: 0, process_exit: true });
    expect(life(shell)).toEqual(life(direct));
    // and the shell's fork of it
    const exec = of(shell, 'syscall_pattern').find(r => r.type === 'exec')!;
    expect(shell.some(r => r.type === 'fork' && r.comm === 'sh' && r.child_tgid === exec.tgid)).toBe(true);
  });

  it('-l holds no process for good: each one stopped at exec was continued (else the run would hang)', async () => {
    const r = await cli(['trace', '-l', '--json', '--', 'sh', '-c', `for i in 1 2 3; do ${workload('locks')} mutex 2 3 10; done`], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const recs = r.stdout.trim().split('\n').map(l => JSON.parse(l)) as Rec[];
    // three processes, each with its own locks
    expect(new Set(recs.filter(x => x.comm === 'locks' && x.source === 'pthread').map(x => x.tgid)).size).toBe(3);
  });
});
