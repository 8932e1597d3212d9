import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NdjsonSink } from './ndjson.js';
import { Clock } from '../collect/clock.js';
import { whenCaughtUp } from './backpressure.js';

/** A stream whose reader takes nothing until told to: what a pipe into a stalled consumer is. */
function stalled() {
  let taking = false;
  let held: (() => void) | undefined;
  const out = new Writable({ highWaterMark: 512, write(_chunk, _enc, cb) { if (taking) cb(); else held = cb; } });
  return { out, release: () => { taking = true; held?.(); } };
}

describe('whenCaughtUp', () => {
  it('is undefined while the reader keeps up, a promise past the limit, settled once all is taken', async () => {
    const { out, release } = stalled();
    out.write('x'.repeat(100));
    expect(whenCaughtUp(out, 1000)).toBeUndefined();
    out.write('x'.repeat(2000));
    const wait = whenCaughtUp(out, 1000);
    expect(wait).toBeInstanceOf(Promise);
    let settled = false;
    void wait!.then(() => { settled = true; });
    await new Promise(r => setImmediate(r));
    expect(settled).toBe(false);
    release();
    await wait;
    expect(out.writableLength).toBe(0);
    expect(whenCaughtUp(out, 1000)).toBeUndefined();
  });

  it('settles when the stream closes instead (a reader that went away)', async () => {
    const { out } = stalled();
    out.write('x'.repeat(2000));
    const wait = whenCaughtUp(out, 1000)!;
    out.destroy();
    await wait;
    expect(whenCaughtUp(out, 1000)).toBeUndefined();
  });

  it('is what an NDJSON sink reports once its output backs up', () => {
    const { out } = stalled();
    const sink = new NdjsonSink(out, new Clock());
    const r = { type: 'lost', ts_ns: 0, pid: 0, tgid: 0, comm: '', reason: 'ring_full', count: 1 } as const;
    sink.write(r);
    sink.flush();
    expect(sink.backedUp()).toBeUndefined();
    for (let i = 0; i < 20_000; i++) sink.write(r);
    sink.flush();
    expect(sink.backedUp()).toBeInstanceOf(Promise);
  });
});
