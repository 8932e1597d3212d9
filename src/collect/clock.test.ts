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
    expect(c.toAbsoluteString(3_000_000_001)).toBe(t.toString());
  });

  it('prints absolute instants exactly on either side of 2^53', () => {
    const edge = BigInt(Number.MAX_SAFE_INTEGER);
    for (const epoch of [5_000_000_000n, edge - 10n, edge + 10n]) {
      const c = new Clock(epoch);
      for (const rel of [0, 1, -1, 9, 11, 123_456_789_012]) expect(c.toAbsoluteString(rel)).toBe((epoch + BigInt(rel)).toString());
    }
  });

  it('runs on the kernel clock (CLOCK_MONOTONIC), so now() starts near 0', () => {
    const c = new Clock();
    const n = c.now();
    expect(n).toBeGreaterThanOrEqual(0);
    expect(n).toBeLessThan(1e9);
  });
});
