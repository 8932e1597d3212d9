// The reader's wakeup policy on the real kernel: collecting must not wake procimage at every record,
// least of all from the target's own switches, where the reader would take the CPU the target has
// just been given. Checked with an oracle of its own (test/bpf/wakers.bpf.c) on the scheduler's
// tracepoints: who woke the reader's threads, and when.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BpfObject, type Link } from '../src/bpf/index.js';
import { Attach, ROOT, waitFor, workload } from './helpers.js';

const live: Attach[] = [];
afterEach(async () => { for (const a of live.splice(0)) await a.cleanup(); });

function oracle(target: number, reader: number) {
  const obj = BpfObject.open(join(ROOT, 'build/test/wakers.bpf.o'));
  obj.setConst('target_tgid', target);
  obj.setConst('reader_tgid', reader);
  obj.load();
  const links: Link[] = [obj.program('wakers_switch').attachTrace(), obj.program('wakers_wakeup').attachTrace()];
  const counts = () => [0, 1, 2].map(k => {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(k);
    return Number(obj.map('counts').lookup(key)!.readBigUInt64LE(0));
  });
  return {
    counts,
    close: () => { for (const l of links) l.close(); obj.close(); },
  };
}

describe('waking the reader', () => {
  it("never from the target's switches: records gather until a timer wakes the reader, and still all arrive", async () => {
    const a = await Attach.start(['-k', '--json']);
    live.push(a);
    // ~450 sleeps a second: a switch-in and a switch-out record every 2 ms
    const target = spawn(workload('wakeups'), ['100000', '2000'], { stdio: 'ignore' });
    const o = oracle(target.pid!, a.proc.pid!);
    try {
      expect((await a.ctl(['-a', '-P', String(target.pid), '-k', '1'])).code).toBe(0);
      await waitFor(() => a.records().some(x => x.type === 'oncpu' && x.pid === target.pid), 'the first interval');
      const [in0, woken0, byTarget0] = o.counts();
      const n0 = a.records().length, t0 = performance.now();
      await new Promise(r => setTimeout(r, 1500));
      const [in1, woken1, byTarget1] = o.counts();
      const timerPeriods = (performance.now() - t0) / 4; // PI_WAKE_DELAY_NS: 4 ms
      const switchIns = in1 - in0, byTarget = byTarget1 - byTarget0, woken = woken1 - woken0;
      const got = await waitFor(() => { const n = a.records().length - n0; return n >= switchIns ? n : 0; }, 'the records of those switches', 2000);
      expect(switchIns).toBeGreaterThan(200);
      // a wakeup sent with each record would come in the target's context at each switch-in; the
      // timer's come from whatever runs when it fires (the target, at most as often as it is on a CPU)
      expect(byTarget, JSON.stringify({ switchIns, byTarget, woken, got })).toBeLessThan(switchIns / 10);
      // at most one timer per 4 ms: it wakes the drain thread, which wakes the main thread with the
      // batch, which wakes a pool thread for the next drain (a wakeup per record made 3 per switch-in)
      expect(woken, JSON.stringify({ switchIns, byTarget, woken, got, timerPeriods })).toBeLessThanOrEqual(4 * timerPeriods);
    } finally {
      o.close();
      target.kill('SIGKILL');
    }
  });
});
