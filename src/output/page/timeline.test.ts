// The page's timeline: views at every zoom, from intervals and from buckets, the budget, and the
// round trip through JSON that a self-contained page makes.
import { describe, expect, it } from 'vitest';
import { GRID, K_RUNNING, K_SLEEPING, Timeline, b64, unb64 } from './timeline.js';

const S = 83; // 'S'
const ms = 1e6;

/** A thread that runs 1 ms then sleeps 9 ms, n times, from `at`. */
function runSleep(t: Timeline, tid: number, n: number, at = 0): void {
  for (let i = 0; i < n; i++) {
    const s = at + i * 10 * ms;
    t.add({ tid, start: s, end: s + ms, state: 0, cpu: 1, kstack: 0, ustack: 0, flags: 0 });
    t.add({ tid, start: s + ms, end: s + 10 * ms, state: S, cpu: 1, kstack: 7, ustack: 8, flags: 0 });
  }
}

describe('page timeline', () => {
  it('draws intervals a pixel or wider as they are, with ids whose detail comes back', () => {
    const t = new Timeline();
    runSleep(t, 5, 10);
    const [v] = t.view(0, 20 * ms, 200, [5]); // 0.1 ms a pixel
    expect(v.coarse).toBe(false);
    expect(v.kind).toEqual([K_RUNNING, K_SLEEPING, K_RUNNING, K_SLEEPING]);
    expect(v.start).toEqual([0, ms, 10 * ms, 11 * ms]);
    expect(v.id.every(i => i >= 0)).toBe(true);
    expect(t.detail(5, v.id[1])).toMatchObject({ start: ms, end: 10 * ms, state: S, kstack: 7, ustack: 8 });
  });

  it('merges intervals narrower than a pixel into segments that say how their time was shared', () => {
    const t = new Timeline();
    // 100 µs cycles, 10 µs on the CPU: 10 ms in all
    for (let i = 0; i < 100; i++) {
      t.add({ tid: 5, start: i * 1e5, end: i * 1e5 + 1e4, state: 0, cpu: 1, kstack: 0, ustack: 0, flags: 0 });
      t.add({ tid: 5, start: i * 1e5 + 1e4, end: (i + 1) * 1e5, state: S, cpu: 1, kstack: 0, ustack: 0, flags: 0 });
    }
    const [v] = t.view(0, 10 * ms, 40, [5]); // 250 µs a pixel, finer than a bucket (1 ms)
    expect(v.coarse).toBe(false);
    expect(v.id.every(i => i === -1)).toBe(true);
    const sleeping = v.mix.filter((_, i) => i % 5 === K_SLEEPING);
    for (const f of sleeping) expect(f).toBeCloseTo(0.9, 1);
    expect(v.kind.every(k => k === K_SLEEPING)).toBe(true);
    expect(v.n.reduce((a, b) => a + b, 0)).toBe(200);
  });

  it('a view wider than a bucket a pixel comes from the buckets, with the same shares', () => {
    const t = new Timeline();
    runSleep(t, 5, 1000); // 10 s: the grid has coarsened to fit
    expect(t.width * GRID).toBeGreaterThanOrEqual(10_000 * ms);
    const [v] = t.view(0, 10_000 * ms, 100, [5]);
    expect(v.coarse).toBe(true);
    expect(v.end[v.end.length - 1] - v.start[0]).toBeCloseTo(10_000 * ms, -3);
    const sleep = v.mix.filter((_, i) => i % 5 === K_SLEEPING);
    for (const f of sleep) expect(f).toBeCloseTo(0.9, 2);
  });

  it('in a view from the buckets, an interval a pixel or longer is still drawn as itself (clickable)', () => {
    const t = new Timeline();
    runSleep(t, 5, 500); // 5 s of 1 ms on, 9 ms asleep
    t.add({ tid: 5, start: 5000 * ms, end: 6000 * ms, state: S, cpu: 0, kstack: 3, ustack: 4, flags: 0 }); // then 1 s asleep
    const [v] = t.view(0, 6000 * ms, 600, [5]); // 10 ms a pixel
    expect(v.coarse).toBe(true);
    const i = v.id.findIndex(id => id >= 0);
    expect(i).toBeGreaterThanOrEqual(0);
    expect([v.start[i], v.end[i], v.why[i]]).toEqual([5000 * ms, 6000 * ms, 3]);
    expect(t.detail(5, v.id[i])).toMatchObject({ ustack: 4 });
    // the pixels it covers are not drawn twice
    expect(v.start.filter((s, k) => v.id[k] < 0 && s >= 5000 * ms && v.end[k] <= 6000 * ms)).toEqual([]);
  });

  it('past its budget keeps the newest detail, and the buckets of all of it', () => {
    const t = new Timeline(1000);
    runSleep(t, 5, 1000); // 2000 intervals
    expect(t.kept).toBeLessThanOrEqual(1000);
    const [old] = t.view(0, 20 * ms, 200, [5]);
    expect(old.coarse).toBe(true); // its detail went
    expect(old.kind).toContain(K_SLEEPING);
    const [recent] = t.view(9980 * ms, 10_000 * ms, 200, [5]);
    expect(recent.coarse).toBe(false);
    expect(t.detail(5, recent.id[0])).toBeDefined();
    expect(t.detail(5, 0)).toBeUndefined(); // the first interval's detail is gone
  });

  it('comes back from its JSON with the same views', () => {
    const t = new Timeline(1000, 5 * ms);
    runSleep(t, 5, 300, 5 * ms);
    runSleep(t, 6, 50, 7 * ms);
    const u = Timeline.fromJSON(JSON.parse(JSON.stringify(t.toJSON())));
    for (const [a, b, px] of [[0, 3000 * ms, 300], [100 * ms, 130 * ms, 500], [5 * ms, 3005 * ms, 20]]) {
      expect(u.view(a, b, px)).toEqual(t.view(a, b, px));
    }
  });

  it('a lane holds the buckets of the span it lived in: a fork storm\'s short threads cost bytes, and are drawn where they lived', () => {
    const t = new Timeline(3000);
    runSleep(t, 1, 1000); // 10 s: the grid coarsens (2 ms buckets), and the budget sheds detail
    const short = 2000;
    for (let i = 0; i < short; i++) { // a thread of 2 ms (1 ms on a CPU, 1 ms asleep) every 5 ms
      const s = 3 * ms + i * 5 * ms;
      t.add({ tid: 100 + i, start: s, end: s + ms, state: 0, cpu: 0, kstack: 0, ustack: 0, flags: 0 });
      t.add({ tid: 100 + i, start: s + ms, end: s + 2 * ms, state: S, cpu: 0, kstack: 0, ustack: 0, flags: 0 });
    }
    // the whole grid for the long-lived thread (GRID x 5 kinds x 8 bytes), a few buckets for each short one
    expect(t.bytes()).toBeLessThan(GRID * 5 * 8 + 28 * 3000 + short * 1000);
    const px = 1000, p = 10_000 * ms / px; // 10 ms a pixel: from the buckets
    const views = t.view(0, 10_000 * ms, px);
    for (const v of views.filter(x => x.tid >= 100)) {
      const s = 3 * ms + (v.tid - 100) * 5 * ms;
      expect(v.coarse).toBe(true);
      expect(v.start.length).toBeGreaterThan(0);
      // drawn where it lived, give or take the pixel and bucket it shares with others
      expect(Math.min(...v.start)).toBeGreaterThanOrEqual(s - p - 2 * t.width);
      expect(Math.max(...v.end)).toBeLessThanOrEqual(s + 2 * ms + p + 2 * t.width);
    }
    const u = Timeline.fromJSON(JSON.parse(JSON.stringify(t.toJSON())));
    expect(u.view(0, 10_000 * ms, px)).toEqual(views);
    expect(u.view(4000 * ms, 4100 * ms, 37)).toEqual(t.view(4000 * ms, 4100 * ms, 37));
  });

  it('base64 round-trips typed arrays', () => {
    const a = Float64Array.of(1.5, -2, 1e18, Number.MAX_SAFE_INTEGER);
    expect(new Float64Array(unb64(b64(a)))).toEqual(a);
    const big = new Uint32Array(100_000).map((_, i) => i * 7);
    expect(new Uint32Array(unb64(b64(big)))).toEqual(big);
  });
});
