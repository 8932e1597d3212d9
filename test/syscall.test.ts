// The syscall category (-s N) on the real kernel, against a workload whose syscalls are known
// exactly (workloads/syscall_pattern.c) and against libbpf-tools' syscount watching the same run.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Attach, GatedChild, cli, waitFor, workload } from './helpers.js';

type Rec = Record<string, unknown> & { type: string; pid: number; tgid: number };
const PATTERN = ['getppid', 'chdir', 'getcwd', 'dup', 'close', 'sched_yield'];
const K = 300;

const live: Attach[] = [];
afterEach(async () => {
  for (const a of live.splice(0)) await a.cleanup();
});

/** syscount's table: name -> count. */
function parseSyscount(out: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const [, name, n] of out.matchAll(/^(\w+)\s+(\d+)\s*$/gm)) m.set(name, Number(n));
  return m;
}

/** A thread's syscall_seq records in order, joined: every syscall it entered, by name. */
function sequenceOf(recs: Rec[], pid: number): string[] {
  const seqs = recs.filter(r => r.type === 'syscall_seq' && r.pid === pid).sort((a, b) => (a.first as number) - (b.first as number));
  let next = 0;
  const out: string[] = [];
  for (const s of seqs) {
    expect(s.first, 'batches follow each other without a gap or an overlap').toBe(next);
    out.push(...(s.syscalls as string[]));
    next += (s.syscalls as string[]).length;
  }
  return out;
}

describe('syscall: a known pattern, against syscount', () => {
  it('counts each syscall exactly, as syscount does for the same run, and keeps the sequence in order', async () => {
    const a = await Attach.start(['-s', '--json']);
    live.push(a);
    const child = new GatedChild([workload('syscall_pattern'), String(K)]);
    // line-buffered: syscount's stdout is a pipe here, and it says when it is ready
    const sc = spawn('stdbuf', ['-oL', 'syscount', '-p', String(child.pid), '-T', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let scOut = '';
    sc.stdout.on('data', d => { scOut += d; });
    const scDone = new Promise(r => sc.on('close', r));
    try {
      await waitFor(() => scOut.includes('Tracing syscalls'), 'syscount to be ready', 20_000);
      expect((await a.ctl(['-a', '-P', String(child.pid), '-s', '6'])).code).toBe(0);
      child.open();
      expect(await child.exited).toEqual({ code: 0, signal: null });
      expect((await a.ctl(['-d'])).code).toBe(0);
      await waitFor(() => a.stderr.includes('procimage summary'), 'the summary');
    } finally {
      sc.kill('SIGINT');
      await scDone;
    }
    const recs = a.records() as Rec[];
    const stats = recs.filter(r => r.type === 'syscall_stat' && r.scope === 'thread' && r.pid === child.pid);
    const last = new Map<string, Rec>();
    for (const s of stats) last.set(s.syscall as string, s); // cumulative: the last record of each is the total
    const count = (name: string) => (last.get(name)?.count as number | undefined) ?? 0;

    // what the workload did: exactly K of each, every chdir failing with ENOENT; exit_group once
    for (const name of ['getppid', 'chdir', 'getcwd', 'dup', 'sched_yield']) expect(count(name), name).toBe(K);
    expect(last.get('chdir')).toMatchObject({ errors: K, errno: 'ENOENT', errno_count: K });
    expect(last.get('getppid')).toMatchObject({ errors: 0, errno: null });
    expect(count('exit_group')).toBe(1);
    const g = last.get('getppid')!;
    expect(g.total_ns as number).toBeGreaterThan(0);
    expect(g.max_ns as number).toBeGreaterThanOrEqual(g.avg_ns as number);
    // the latency histogram: one slot per timed call (all of them here), the longest in the last slot
    for (const name of ['getppid', 'chdir', 'getcwd', 'dup', 'sched_yield']) {
      const h = last.get(name)!.hist_log2_ns as number[];
      expect(h.reduce((a, b) => a + b, 0), name).toBe(K);
      expect(h.length - 1, name).toBe(Math.floor(Math.log2(last.get(name)!.max_ns as number)));
    }
    expect(last.get('exit_group')!.hist_log2_ns).toEqual([]); // counted at entry, never returns: untimed

    // what syscount counted for the same run: the same, syscall by syscall (it cannot see exit_group,
    // which never returns; it counts at sys_exit as procimage does)
    const oracle = parseSyscount(scOut);
    expect(oracle.get('getppid')).toBe(K);
    for (const [name, n] of oracle) expect(count(name), `${name} (syscount: ${n})`).toBe(n);
    const ours = [...last.keys()].filter(n => n !== 'exit_group' && count(n) > 0);
    expect(ours.sort()).toEqual([...oracle.keys()].sort());

    // the sequence: the pattern K times in a row, then exit_group
    const seq = sequenceOf(recs, child.pid);
    expect(seq.at(-1)).toBe('exit_group');
    const start = seq.indexOf('getppid');
    expect(seq.slice(start, start + PATTERN.length * K)).toEqual(Array.from({ length: K }, () => PATTERN).flat());
    expect(seq.slice(start + PATTERN.length * K)).toEqual(['exit_group']);
    // every syscall entered is in the sequence: as many as the counts say (+1: the gate's read in
    // flight at activation returned, and was counted, but was not entered while collecting)
    const entered = [...last.values()].reduce((s, r) => s + (r.count as number), 0);
    expect(seq.length).toBeGreaterThanOrEqual(entered - 1);
    expect(seq.length).toBeLessThanOrEqual(entered);

    // what the thread was doing last: its last 6 syscalls, oldest first
    const th = recs.filter(r => r.type === 'syscall_thread' && r.pid === child.pid).at(-1)!;
    expect(th.last).toEqual([...PATTERN.slice(1), 'exit_group']);
    expect(th.calls).toBe(seq.length);

    // the whole system's counts, beside: at least what the target did
    const sys = recs.filter(r => r.type === 'syscall_stat' && r.scope === 'system' && r.syscall === 'getppid').at(-1)!;
    expect(sys).toMatchObject({ pid: 0, tgid: 0, errors: null });
    expect(sys.count as number).toBeGreaterThanOrEqual(K);
    expect(a.stderr).toMatch(/lost +none/);
  });

  it('counts only the target: another process making the same calls is in the system counts only', async () => {
    const other = spawn(workload('syscalls'), ['100000000']);
    try {
      // in its loop of getppid calls before the trace starts (it has run a few ms of CPU), however
      // quickly the trace starts and ends: else the system's count may not have one of its calls yet
      const ticks = () => { try { const f = readFileSync(`/proc/${other.pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); } catch { return 0; } };
      await waitFor(() => ticks() >= 2, 'the other process to be calling getppid');
      const r = await cli(['trace', '--json', '-s', '10', '--', workload('syscall_pattern'), '50']);
      expect(r.code).toBe(0);
      const recs = r.stdout.trim().split('\n').map(l => JSON.parse(l)) as Rec[];
      const pids = new Set(recs.filter(x => x.type !== 'syscall_stat' || x.scope === 'thread').map(x => x.tgid));
      expect(pids.has(other.pid!)).toBe(false);
      const getppid = recs.filter(x => x.type === 'syscall_stat' && x.scope === 'thread' && x.syscall === 'getppid');
      expect(getppid.at(-1)?.count, `${JSON.stringify(getppid)}\n${r.stderr}`).toBe(50);
      const sys = recs.filter(x => x.type === 'syscall_stat' && x.scope === 'system' && x.syscall === 'getppid').at(-1)!;
      expect(sys.count as number).toBeGreaterThan(50); // the other process's calls are in the system's
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('prints each thread\'s last N syscalls and the busiest syscalls beside the system\'s, as text', async () => {
    const r = await cli(['trace', '-s', '4', '--', workload('syscall_pattern'), '20']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^── syscall_thread at/m);
    expect(r.stdout).toMatch(/^ *PID +TGID +COMM +CALLS +IN SYSCALL +LAST \(oldest first\)$/m);
    expect(r.stdout).toMatch(/ syscall_pattern +\d+ +- +dup close sched_yield exit_group$/m);
    expect(r.stdout).toMatch(/^ *PID +COMM +SYSCALL +COUNT +ERRORS +AVG +P99 +MAX +TOTAL +│ +SYSTEM TOP +COUNT$/m);
    expect(r.stdout).toMatch(/ chdir +20 +20 ENOENT /);
  });
});

describe('syscall: bad input', () => {
  it.each([['0', /-s N must be from 1 to 50, got 0/], ['51', /-s N must be from 1 to 50, got 51/],
    ['abc', /-s N must be a whole number, got 'abc'/]])('trace -s %s is refused with one clear line', async (n, msg) => {
    const r = await cli(['trace', '-s', n, '--', 'true']);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(msg);
  });
});

describe('syscall names', () => {
  it('are the kernel header\'s, and agree with syscount\'s own table wherever it has one', async () => {
    const { syscallName } = await import('../src/collect/syscall-names.js');
    const list = execFileSync('syscount', ['-l']).toString();
    let n = 0;
    for (const [, nr, name] of list.matchAll(/^\s*(\d+): (\S+)/gm)) {
      expect(syscallName(Number(nr)), nr).toBe(name);
      n++;
    }
    expect(n).toBeGreaterThan(300);
    expect(syscallName(449)).toBe('futex_waitv'); // newer than some tables, in the header
    expect(syscallName(1000)).toBe('syscall_1000');
    expect(syscallName(0xffffffff)).toBe('syscall_-1');
  });
});

describe('syscall: numbers no table has', () => {
  it('1000, -1 and 0x7fffffff: named by number, counted exactly with their ENOSYS, in the system\'s out-of-range count', async () => {
    const r = await cli(['trace', '--json', '-s', '6', '--', workload('syscall_badnr'), String(K)]);
    expect(r.code, r.stderr).toBe(0);
    const recs = r.stdout.trim().split('\n').map(l => JSON.parse(l)) as Rec[];
    // what the workload counted itself: every call failed with ENOSYS
    const w = JSON.parse(r.stderr.split('\n').find(l => l.startsWith('{"1000"'))!) as Record<string, number>;
    expect(w).toEqual({ 1000: K, '-1': K, 2147483647: K });
    const last = new Map<string, Rec>();
    for (const x of recs) if (x.type === 'syscall_stat' && x.scope === 'thread') last.set(x.syscall as string, x);
    for (const [name, nr] of [['syscall_1000', 1000], ['syscall_-1', -1], ['syscall_2147483647', 0x7fffffff]] as const) {
      const s = last.get(name);
      expect(s, name).toMatchObject({ nr, count: w[String(nr)], errors: w[String(nr)], errno: 'ENOSYS', errno_count: w[String(nr)] });
      expect((s!.hist_log2_ns as number[]).reduce((a, b) => a + b, 0), name).toBe(K);
    }
    // in the sequence, in the order made
    const pid = last.get('syscall_1000')!.pid;
    const seq = sequenceOf(recs, pid);
    const start = seq.indexOf('syscall_1000');
    expect(seq.slice(start, start + 3 * K)).toEqual(Array.from({ length: K }, () => ['syscall_1000', 'syscall_-1', 'syscall_2147483647']).flat());
    // the whole system's counts keep one slot for every number past the table: at least these 3K
    const sys = recs.filter(x => x.type === 'syscall_stat' && x.scope === 'system');
    const out = sys.filter(x => x.syscall === 'syscall_out_of_range').at(-1);
    expect(out).toMatchObject({ nr: -1, pid: 0, errors: null });
    expect(out!.count as number).toBeGreaterThanOrEqual(3 * K);
    expect(sys.filter(x => /^syscall_(1000|-1|2147483647)$/.test(x.syscall as string))).toEqual([]);
  });
});

describe('syscall: the kernel\'s tables under load', () => {
  /** Per (pid, syscall name): the last (cumulative) thread-scope syscall_stat. */
  const lastStats = (recs: Rec[]) => {
    const last = new Map<string, Rec>();
    for (const x of recs) if (x.type === 'syscall_stat' && x.scope === 'thread') last.set(`${x.pid}:${x.syscall}`, x);
    return last;
  };

  it('numbers sharing their low bits: each counted and timed exactly, the ones past a thread\'s positions too', async () => {
    // a thread's figures are found by nr % 64 and the next 3 positions (bpf/syscall.bpf.c): these six
    // all start at 40, so the fifth and sixth are kept elsewhere (the sc_stats hash)
    const nrs = [1000, 1064, 1128, 1192, 1256, 1320];
    const r = await cli(['trace', '--json', '-s', '6', '--', workload('syscall_nrs'), '1', String(K), ...nrs.map(String)]);
    expect(r.code, r.stderr).toBe(0);
    // the workload's own count (its stdout goes to stderr with --json)
    expect(JSON.parse(r.stderr.split('\n').find(l => l.startsWith('{"enosys"'))!)).toEqual({ enosys: K * nrs.length });
    const recs = r.stdout.trim().split('\n').map(l => JSON.parse(l)) as Rec[];
    const last = lastStats(recs);
    const pid = [...last.values()].find(x => x.syscall === 'syscall_1000')!.pid;
    for (const nr of nrs) {
      const s = last.get(`${pid}:syscall_${nr}`);
      expect(s, String(nr)).toMatchObject({ nr, count: K, errors: K, errno: 'ENOSYS', errno_count: K });
      expect((s!.hist_log2_ns as number[]).reduce((a, b) => a + b, 0), String(nr)).toBe(K);
    }
    const seq = sequenceOf(recs, pid);
    const start = seq.indexOf('syscall_1000');
    expect(seq.slice(start, start + nrs.length * K)).toEqual(Array.from({ length: K }, () => nrs.map(n => `syscall_${n}`)).flat());
    expect(r.stderr).toMatch(/lost +none/);
  });

  it('more (thread, syscall) pairs than the kernel\'s array holds: every one counted exactly', async () => {
    // 200 threads x 50 numbers = 10000 pairs, past sc_fast's 8192 entries: the rest go to the hash
    const nrs = Array.from({ length: 50 }, (_, i) => String(1000 + i));
    const r = await cli(['trace', '--json', '-s', '10', '--', workload('syscall_nrs'), '200', '3', ...nrs]);
    expect(r.code, r.stderr).toBe(0);
    const recs = r.stdout.trim().split('\n').map(l => JSON.parse(l)) as Rec[];
    const ours = [...lastStats(recs).values()].filter(x => (x.nr as number) >= 1000 && (x.nr as number) < 1050);
    expect(ours).toHaveLength(200 * 50);
    expect(ours.filter(x => x.count !== 3 || x.errors !== 3)).toEqual([]);
    // every call fails (ENOSYS): 10000 (thread, syscall, errno) triples, past sc_errnos' 8192, whose
    // loss is counted; nothing else may be lost
    expect(r.stderr).toMatch(/lost +\d+ syscall_errnos_full/);
    expect(r.stderr).not.toMatch(/syscall_stats_full|syscall_threads_full|ring_full/);
  });
});

describe('syscall: threads come and go', () => {
  it('counts every thread exactly while another process\'s threads reuse the same kernel stacks', async () => {
    // the other process churns threads too: freed stacks go to whichever process creates a thread next
    const other = spawn('sh', ['-c', `while :; do ${workload('thread_churn')} 50 20; done`], { stdio: 'ignore' });
    try {
      const r = await cli(['trace', '--json', '-s', '10', '--', workload('thread_churn'), '300', '30']);
      expect(r.code).toBe(0);
      const recs = r.stdout.trim().split('\n').map(l => JSON.parse(l)) as Rec[];
      const main = recs.find(x => x.type === 'syscall_stat' && x.syscall === 'execve')!.tgid;
      const getppid = new Map<number, number>();
      for (const x of recs) if (x.type === 'syscall_stat' && x.scope === 'thread' && x.syscall === 'getppid') getppid.set(x.pid, x.count as number);
      expect(getppid.size).toBe(300);
      for (const [pid, n] of getppid) expect(n, `thread ${pid}`).toBe(30);
      expect(recs.filter(x => x.type !== 'lost' && !(x.type === 'syscall_stat' && x.scope === 'system')).every(x => x.tgid === main)).toBe(true);
      expect(r.stderr).toMatch(/lost +none/);
    } finally {
      other.kill('SIGKILL');
    }
  });
});

describe('syscall with lock', () => {
  it('leaves out the syscalls that -l\'s own uretprobes make (uretprobe, 335), and counts the program\'s', async () => {
    const r = await cli(['trace', '--json', '-s', '10', '-l', '--', workload('locks'), 'mutex', '2', '5', '100']);
    expect(r.code).toBe(0);
    const recs = r.stdout.trim().split('\n').map(l => JSON.parse(l)) as Rec[];
    const stats = recs.filter(x => x.type === 'syscall_stat' && x.scope === 'thread');
    expect(stats.some(x => x.nr === 335)).toBe(false);
    expect(stats.filter(x => x.nr === -1)).toEqual([]); // its return: orig_ax -1 (6.18), not a call to count
    expect(recs.filter(x => x.type === 'syscall_seq').flatMap(x => x.nrs as number[])).not.toContain(335);
    expect(stats.some(x => x.syscall === 'clone3')).toBe(true);
    expect(recs.some(x => x.type === 'lock' && x.source === 'pthread')).toBe(true);
  });
});
