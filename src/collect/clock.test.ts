import { describe, expect, it } from 'vitest';
import { Clock } from './clock.js';

describe('Clock', () => {
  it('is exact to the ns for instants past 2^53 ns (104 days of uptime)', () => {
    const epoch = (1n << 60n) + 123_456_789n;
    const c = new Clock(epoch);
    const t = epoch + 3_000_000_001n; // 3 s and 1 ns later
    const u32 = new Uint32Array(2);
    u32[0] = Number(t & 0xffffffffn);
    u32[1] = Number(t >> 32n);
    expect(c.at(u32, 0)).toBe(3_000_000_001);
    expect(c.toAbsolute(c.at(u32, 0))).toBe(t);
    const before = epoch - 7n;
    expect(c.fromParts(Number(before >> 32n), Number(before & 0xffffffffn))).toBe(-7);
  });

  it('runs on the kernel clock (CLOCK_MONOTONIC), so now() starts near 0', () => {
    const c = new Clock();
    const n = c.now();
    expect(n).toBeGreaterThanOrEqual(0);
    expect(n).toBeLessThan(1e9);
  });
});
