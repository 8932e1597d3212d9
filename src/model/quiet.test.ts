// QuietThreads against real threads: one asleep throughout, one that keeps switching, one seen.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { QuietThreads } from './quiet.js';

const pause = (ms: number) => new Promise(r => setTimeout(r, ms));
const read = (path: string) => { try { return readFileSync(path, 'utf8'); } catch { return ''; } };

/** Polls until ok() holds: what a fixed pause would only hope for on a slow or loaded machine. */
async function until(ok: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 10_000; !ok(); await pause(10)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}
/** The process has exec'd comm and sleeps in a nanosleep. */
const asleep = (pid: number, comm: string) => until(() => read(`/proc/${pid}/comm`).trim() === comm && /nanosleep/.test(read(`/proc/${pid}/wchan`)),
  `${comm} to sleep`);
/** Switch-ins the kernel counted for a thread (/proc/TID/schedstat's third field). */
const switchIns = (pid: number) => Number(read(`/proc/${pid}/schedstat`).split(' ')[2] ?? 0);

describe('QuietThreads', () => {
  it('reports a thread that did not switch as off CPU throughout, in its state now', async () => {
    const p = spawn('sleep', ['10'], { stdio: 'ignore' });
    try {
      await asleep(p.pid!, 'sleep');
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
      await until(() => read(`/proc/${p.pid!}/comm`).trim() === 'perl', 'perl to run');
      const q = QuietThreads.atActivation({ kind: 'tgid', tgid: p.pid! });
      const before = switchIns(p.pid!);
      await until(() => switchIns(p.pid!) >= before + 2, 'perl to switch');
      expect(q.finish(new Set(), true, 1)).toEqual([]);
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('reports nothing for a thread that is gone, nor with no selector', async () => {
    const p = spawn('sleep', ['10'], { stdio: 'ignore' });
    await asleep(p.pid!, 'sleep');
    const q = QuietThreads.atActivation({ kind: 'pid', pid: p.pid! });
    p.kill('SIGKILL');
    await new Promise(r => p.once('exit', r));
    expect(q.finish(new Set(), true, 1)).toEqual([]);
    expect(QuietThreads.atActivation({ kind: 'all' }).finish(new Set(), true, 1)).toEqual([]);
  });
});
