import { describe, expect, it } from 'vitest';
import { NO_FRAMES, StackCache } from './stackcache.js';

describe('StackCache', () => {
  it('symbolizes each distinct stack once and hands out the same frozen array', () => {
    const c = new StackCache();
    let calls = 0;
    const buf = new Uint32Array([1, 0xffffffff, 2, 0xffffffff]);
    const frames = () => { calls++; return ['a', 'b']; };
    const first = c.get(buf, frames);
    buf[0] = 9; // the batch buffer is reused: what was kept must be a copy
    const other = c.get(buf, () => ['z']);
    buf[0] = 1;
    expect(c.get(buf, frames)).toBe(first);
    expect(calls).toBe(1);
    expect(other).toEqual(['z']);
    expect(Object.isFrozen(first)).toBe(true);
    expect(c.get(new Uint32Array(0), frames)).toBe(NO_FRAMES);
  });

  it('tells apart a stack from a longer one that starts the same, and starts over when full', () => {
    const c = new StackCache(2);
    const a = new Uint32Array([1, 2]), b = new Uint32Array([1, 2, 0]), d = new Uint32Array([3, 4]);
    expect(c.get(a, () => ['a'])).toEqual(['a']);
    expect(c.get(b, () => ['b'])).toEqual(['b']); // a prefix with a zero more: a different stack
    let again = 0;
    c.get(d, () => ['d']); // the third: the cache starts over
    c.get(a, () => { again++; return ['a']; });
    expect(again).toBe(1);
  });
});

describe('StackCache salts', () => {
  it('keeps the same addresses apart in different address spaces', () => {
    const c = new StackCache();
    const w = new Uint32Array([0x401000, 0]);
    c.add(w, ['main (a)'], 5 * 2 ** 21 + 1);
    c.add(w, ['other (b)'], 6 * 2 ** 21 + 1);
    expect(c.find(w, 5 * 2 ** 21 + 1)).toEqual(['main (a)']);
    expect(c.find(w, 6 * 2 ** 21 + 1)).toEqual(['other (b)']);
    expect(c.find(w, 5 * 2 ** 21 + 2)).toBeUndefined(); // the same space, remapped since
  });
});
