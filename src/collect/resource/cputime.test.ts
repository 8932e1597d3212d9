import { describe, expect, it } from 'vitest';
import { CpuSplitter } from './cputime.js';

describe('CpuSplitter (the kernel\'s cputime_adjust)', () => {
  it('scales the sampled user:system ratio to the precise total', () => {
    const s = new CpuSplitter();
    expect(s.adjust({ rtime: 1_000, utime: 300, stime: 100 })).toEqual({ user: 750, system: 250 });
  });

  it('gives everything to one side when the other was never sampled', () => {
    expect(new CpuSplitter().adjust({ rtime: 999, utime: 0, stime: 0 })).toEqual({ user: 999, system: 0 });
    expect(new CpuSplitter().adjust({ rtime: 999, utime: 0, stime: 4 })).toEqual({ user: 0, system: 999 });
  });

  it('never lets either side go backwards, and always sums to the total', () => {
    const s = new CpuSplitter();
    s.adjust({ rtime: 1_000, utime: 100, stime: 300 }); // 250 / 750
    const b = s.adjust({ rtime: 2_000, utime: 1_000, stime: 300 }); // ratio says system 461: kept >= 750
    expect(b).toEqual({ user: 1_250, system: 750 });
    const c = s.adjust({ rtime: 2_000, utime: 5_000, stime: 1 }); // no new time: unchanged
    expect(c).toEqual(b);
  });
});
