import { describe, expect, it } from 'vitest';
import { Clock } from '../collect/clock.js';
import type { ProcRecord } from '../collect/records.js';
import { toNdjson } from './ndjson.js';

const rec = (r: Record<string, unknown>) => r as unknown as ProcRecord;

describe('toNdjson', () => {
  const clock = new Clock(1_000_000_000n);

  it('writes what JSON.stringify writes, instants made absolute', () => {
    const kstack = Object.freeze(['do_nanosleep+0x6a', 'hrtimer_nanosleep+0x9e', 'a "quoted"\\name']);
    const r = rec({
      type: 'offcpu', ts_ns: 5, pid: 7, tgid: 7, comm: 'naïve\ttab', cpu: 0, start_ts_ns: -3, end_ts_ns: null,
      duration_ns: 8, ratio: 0.25, big: 1e21, nan: NaN, inf: -Infinity, ok: true, no: false, gone: undefined,
      kstack, ustack: ['main (demo.c:32)'], hist: [0, 1, 2], nested: { a: [1, 'x'], b: null },
    });
    const line = toNdjson(r, clock);
    const plain = { ...(r as unknown as Record<string, unknown>), ts_ns: 1_000_000_005, start_ts_ns: 999_999_997 };
    expect(line).toBe(JSON.stringify(plain));
    expect(toNdjson(r, clock)).toBe(line); // the frozen stack's cached JSON, the second time
  });

  it('keeps instants exact past 2^53 ns', () => {
    const late = new Clock((1n << 60n) + 1n);
    const line = toNdjson(rec({ type: 'exec', ts_ns: 3, pid: 1, tgid: 1, comm: 'x', cpu: 0 }), late);
    expect(line).toContain(`"ts_ns":${(1n << 60n) + 4n},`);
  });
});
