// --offcpu-min (issue 16, goal 1): off-CPU intervals shorter than the threshold whose stacks the
// process already sent are counted in the kernel (offcpu_agg records) instead of sent one by one.
// Checked on the real kernel with a two-thread futex ping-pong: every interval is still accounted
// for (a thread's on- and off-CPU time tile its life exactly, kernel stamps both ends of each), the
// first of each stack went out in full, and the aggregates carry those stacks.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cli, waitFor, workload } from './helpers.js';

type Rec = Record<string, unknown> & { type: string; pid: number; tgid: number; comm: string };
const parse = (out: string): Rec[] => out.trim().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l));
const n = (x: unknown) => x as number;
const frames = (x: unknown) => (x as string[]).join('\n');

describe('--offcpu-min', () => {
  it('counts the short intervals of a known stack in the kernel, and still accounts for every one', async () => {
    // 1 s: every hand-over of the ping-pong is far shorter on any machine, so nearly all are counted
    const r = await cli(['trace', '--json', '-k', '1', '--offcpu-min', '1s', '--', 'taskset', '-c', '0', workload('futexpong'), '5000']);
    expect(r.code, r.stderr).toBe(0);
    const recs = parse(r.stdout);
    const exec = recs.find(x => x.type === 'exec')!;
    const mine = recs.filter(x => x.tgid === exec.tgid);
    // the second thread: created after activation, so its whole life is known from its first run
    const fork = mine.find(x => x.type === 'fork' && x.thread)!;
    expect(fork, r.stderr).toBeDefined();
    const tid = n(fork.child_pid);
    const own = mine.filter(x => x.pid === tid);
    const aggs = own.filter(x => x.type === 'offcpu_agg');
    const offs = own.filter(x => x.type === 'offcpu'), ons = own.filter(x => x.type === 'oncpu');
    const counted = aggs.reduce((s, a) => s + n(a.count), 0);
    // 5000 waits: most go to the aggregates; the records that did go out are few
    expect(counted, r.stderr).toBeGreaterThan(offs.length);
    expect(offs.length + counted).toBeGreaterThan(1000);

    // nothing ongoing or unknown: the thread started and ended within the activation
    expect([...offs, ...ons].filter(x => x.duration_ns === null || x.ongoing || x.began_before_activation)).toEqual([]);
    // its life, first run to final switch, is its on-CPU time plus its off-CPU time, to the ns
    const first = Math.min(...ons.map(x => n(x.start_ts_ns))), last = Math.max(...ons.map(x => n(x.end_ts_ns)));
    const on = ons.reduce((s, x) => s + n(x.duration_ns), 0) + aggs.reduce((s, a) => s + n(a.oncpu_ns), 0);
    const off = offs.reduce((s, x) => s + n(x.duration_ns), 0) + aggs.reduce((s, a) => s + n(a.total_ns), 0);
    expect(on + off).toBe(last - first);
    // and there is one more on-CPU interval than off-CPU ones (it begins and ends running)
    expect(ons.length + aggs.reduce((s, a) => s + n(a.oncpu_count), 0)).toBe(offs.length + counted + 1);

    for (const a of aggs) {
      expect(n(a.count)).toBeGreaterThan(0);
      expect(n(a.max_ns)).toBeLessThan(1e9);
      expect(n(a.total_ns)).toBeGreaterThanOrEqual(n(a.count) > 1 ? n(a.max_ns) : 0);
      expect(a.below_ns).toBe(1e9);
      // the first interval with these stacks (in whatever state) went out in full, from some thread of the process
      const sent = mine.find(x => x.type === 'offcpu' && frames(x.kstack) === frames(a.kstack) &&
        frames(x.ustack) === frames(a.ustack));
      expect(sent, JSON.stringify(a)).toBeDefined();
    }
    // the ping-pong's wait is among them: its user stack whole, or (a new process's first moments,
    // before its unwind tables are read, past the copy budget) not taken and said so
    expect(aggs.find(a => a.state === 'S' && /futex/.test(frames(a.kstack))), JSON.stringify(aggs)).toBeDefined();
    for (const a of aggs) {
      if (a.ustack_mode === 'none') expect(a.ustack).toEqual([]);
      else expect(frames(a.ustack)).toMatch(/start_thread|__libc_start_main/);
    }
    // the summary counts them
    expect(r.stderr).toMatch(/offcpu_agg \d+/);
  }, 60_000);

  it('gives the aggregates of a running process their whole user stacks', async () => {
    // a process running before activation: its unwind tables are read at activation, before its
    // first switch is recorded, so every stack is unwound in the kernel
    const child = spawn('taskset', ['-c', '0', workload('futexpong'), '1000000000'], { stdio: 'ignore' });
    try {
      await waitFor(() => existsSync(`/proc/${child.pid}/task`) && readdirSync(`/proc/${child.pid}/task`).length === 2, 'futexpong\'s two threads');
      const r = await cli(['trace', '--json', '-k', '0', '--offcpu-min', '1s', '-P', String(child.pid), '--duration', '1']);
      expect(r.code, r.stderr).toBe(0);
      const aggs = parse(r.stdout).filter(x => x.type === 'offcpu_agg' && x.state === 'S' && /futex/.test(frames(x.kstack)));
      const main = aggs.find(a => /^main\+0x[0-9a-f]+ \(futexpong\) futexpong\.c:\d+$/m.test(frames(a.ustack)));
      const other = aggs.find(a => /^other\+0x[0-9a-f]+ \(futexpong\) futexpong\.c:\d+$/m.test(frames(a.ustack)));
      expect(main, JSON.stringify(aggs)).toBeDefined();
      expect(other, JSON.stringify(aggs)).toBeDefined();
      expect(frames(main!.ustack)).toMatch(/__libc_start_main/);
      expect(frames(other!.ustack)).toMatch(/start_thread/);
      expect(main!.pid).not.toBe(other!.pid);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('0 sends every interval one by one', async () => {
    const r = await cli(['trace', '--json', '-k', '0', '--offcpu-min', '0', '--', workload('futexpong'), '500']);
    expect(r.code, r.stderr).toBe(0);
    const recs = parse(r.stdout);
    expect(recs.filter(x => x.type === 'offcpu_agg')).toEqual([]);
    expect(recs.filter(x => x.type === 'offcpu').length).toBeGreaterThan(0);
  }, 60_000);

  it('refuses what is not a duration, in one line', async () => {
    for (const bad of ['1', '-1ms', 'fast', '2h', '1 m']) {
      const r = await cli(['trace', '-k', '0', '--offcpu-min', bad, '--', 'true']);
      expect(r.code, bad).not.toBe(0);
      expect(r.stderr.trim().split('\n'), bad).toHaveLength(1);
      expect(r.stderr, bad).toMatch(/--offcpu-min/);
    }
  });
});
