// QuietThreads against real threads: one asleep throughout, one that keeps switching, one seen.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { QuietThreads } from './quiet.js';

const pause = (ms: number) => new Promise(r => setTimeout(r, ms));

describe('QuietThreads', () => {
  it('reports a thread that did not switch as off CPU throughout, in its state now', async () => {
    const p = spawn('sleep', ['10'], { stdio: 'ignore' });
    try {
      await pause(100);
      const q = QuietThreads.atActivation({ kind: 'pid', pid: p.pid! });
      await pause(50);
      expect(q.finish(new Set(), true, 42)).toMatchObject([{
        type: 'offcpu', ts_ns: 42, pid: p.pid, tgid: p.pid, comm: 'sleep', state: 'S', began_before_activation: true, ongoing: true,
        start_ts_ns: null, end_ts_ns: null, ustack_mode: 'none',
      }]);
      // the sleep path, from the kernel's own unwinder
      expect(q.finish(new Set(), true, 42)[0]).toMatchObject({ kstack: expect.arrayContaining([expect.stringMatching(/^hrtimer_nanosleep\+0x[0-9a-f]+$/)]) });
      expect(q.finish(new Set([p.pid!]), true, 42)).toEqual([]); // a switch record named it
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('reports nothing for a thread whose switch-ins the kernel counted meanwhile (its records were lost)', async () => {
    const p = spawn('perl', ['-e', 'select(undef, undef, undef, 0.005) while 1'], { stdio: 'ignore' });
    try {
      await pause(100);
      const q = QuietThreads.atActivation({ kind: 'tgid', tgid: p.pid! });
      await pause(100);
      expect(q.finish(new Set(), true, 1)).toEqual([]);
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('reports nothing for a thread that is gone, nor with no selector', async () => {
    const p = spawn('sleep', ['10'], { stdio: 'ignore' });
    await pause(100);
    const q = QuietThreads.atActivation({ kind: 'pid', pid: p.pid! });
    p.kill('SIGKILL');
    await new Promise(r => p.once('exit', r));
    expect(q.finish(new Set(), true, 1)).toEqual([]);
    expect(QuietThreads.atActivation({ kind: 'all' }).finish(new Set(), true, 1)).toEqual([]);
  });
});
