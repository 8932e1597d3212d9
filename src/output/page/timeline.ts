// The page's timeline: a lane per thread, its on-CPU and off-CPU intervals, answered for any window
// at the zoom asked for. Browser-safe (no Node modules): the server runs it on live records or a
// recording, and a self-contained page (report --html) runs the same code on its embedded data.
//
// Two stores per lane:
// - the intervals themselves, in columns of typed arrays (28 bytes an interval), within a budget
//   for all lanes: past it the oldest part of every lane's detail goes, and is said to have gone;
// - time buckets on one grid for every lane: the time each bucket spent in each state. The grid has
//   at most GRID buckets, twice as wide each time the run outgrows it, and a lane holds only the
//   buckets of the span it lived in: a thread that ran the whole run costs a few hundred KB, a
//   short-lived one (a fork storm makes thousands a second) a few bytes. A view wider than a
//   bucket per pixel is summed from them (never from millions of intervals, never truncated).
// A view narrower than that is drawn from the intervals: those a pixel or more wide as they are
// (clickable: their stacks come from intervalDetail), the shorter ones merged into segments of about a
// pixel that say how their time was shared between the states.

/** What a lane segment can be: a code each, an index into every fraction array. */
export const KINDS = ['running', 'preempted', 'sleeping', 'disk', 'other'] as const;
export type Kind = (typeof KINDS)[number];
export const K_RUNNING = 0, K_PREEMPTED = 1, K_SLEEPING = 2, K_DISK = 3, K_OTHER = 4;
const NK = KINDS.length;

/** An interval's state byte: 0 on a CPU, else the ps letter (R, S, D, ...) as a char code. */
export function kindOfState(state: number): number {
  switch (state) {
    case 0: return K_RUNNING;
    case 82: return K_PREEMPTED; // R
    case 83: return K_SLEEPING;  // S
    case 68: return K_DISK;      // D
    default: return K_OTHER;
  }
}

/** Flags of an interval. */
export const F_BEFORE = 1, F_ONGOING = 2, F_INFERRED = 4, F_TRUNCATED = 8;

/** Buckets in the grid. */
export const GRID = 8192;
/** The grid's first bucket width, ns: doubled as the run outgrows GRID buckets. */
const FIRST_WIDTH = 1e6;

export interface IntervalIn {
  tid: number;
  start: number;
  end: number;
  /** 0 on a CPU, else the state letter's char code. */
  state: number;
  cpu: number;
  kstack: number;
  ustack: number;
  flags: number;
}

/** A lane's part of a view: columns, one entry a segment. */
export interface LaneView {
  tid: number;
  start: number[];
  end: number[];
  /** The segment's kind (for a merged one, the kind that had most of its time). */
  kind: number[];
  /** An interval as it was: its id (intervalDetail); -1 for a merged segment. */
  id: number[];
  /** Intervals in the segment. */
  n: number[];
  /** An interval as it was: its kernel stack's id (why it waited: TimelineAnswer.whys); 0 for the others. */
  why: number[];
  /** Merged segments: the share of each kind, NK numbers a segment, in order (absent for intervals). */
  mix: number[];
  /** The view is made of buckets (the window is wider than a bucket a pixel, or its detail has gone). */
  coarse: boolean;
}

export interface TimelineData {
  width: number;
  budget: number;
  origin: number;
  lanes: Array<{
    tid: number; dropped: number; keptFrom: number | null;
    start: string; end: string; state: string; cpu: string; kstack: string; ustack: string; flags: string;
    /** The lane's buckets (NK a bucket) from grid bucket bucketsFrom on, when detail has gone. */
    buckets: string | null; bucketsFrom?: number;
  }>;
}

/** A typed array's bytes in base64 (little-endian, as both ends are), in the browser as in Node. */
export function b64(a: ArrayBufferView): string {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
}

/** The bytes of b64(), in a buffer of their own (aligned for any typed array). */
export function unb64(s: string): ArrayBuffer {
  const bin = atob(s);
  const u = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
  return u.buffer;
}

export interface IntervalDetail {
  tid: number;
  id: number;
  start: number;
  end: number;
  state: number;
  kind: number;
  cpu: number;
  kstack: number;
  ustack: number;
  flags: number;
}

class Lane {
  n = 0;
  /** Intervals dropped from the front so far: an interval's id is its index plus this. */
  dropped = 0;
  /** Detail before this time (ns) is no longer kept. */
  keptFrom = -Infinity;
  // room for a few intervals to begin with: most threads of a busy machine live briefly
  start = new Float64Array(4);
  end = new Float64Array(4);
  state = new Uint8Array(4);
  cpu = new Uint16Array(4);
  kst = new Uint32Array(4);
  ust = new Uint32Array(4);
  flags = new Uint8Array(4);
  /** ns in each kind (NK a bucket) for the grid's buckets bucketsFrom, bucketsFrom + 1, ... (the span the lane lived in). */
  buckets = new Float64Array(0);
  bucketsFrom = 0;
  /** The latest end seen: intervals come in time order; one that does not is put in its place. */
  lastEnd = -Infinity;
  /**
   * Ids of the intervals at least a bucket long when they came, in time order: a view drawn from the
   * buckets draws these as they are (a 1 s sleep stays one clickable interval at any zoom). At most
   * a grid's worth of time each, so at most ~GRID of them a lane.
   */
  long: number[] = [];

  constructor(readonly tid: number) {}

  private grow(): void {
    const cap = this.start.length * 2;
    const g = <T extends Float64Array | Uint8Array | Uint16Array | Uint32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.start = g(this.start); this.end = g(this.end); this.state = g(this.state); this.cpu = g(this.cpu);
    this.kst = g(this.kst); this.ust = g(this.ust); this.flags = g(this.flags);
  }

  push(iv: IntervalIn, longFrom = Infinity): void {
    if (this.n === this.start.length) this.grow();
    if (iv.end - iv.start >= longFrom && iv.end >= this.lastEnd) this.long.push(this.n + this.dropped);
    let i = this.n;
    if (iv.end < this.lastEnd) { // out of order (rare): its place by end
      i = upperBound(this.end, this.n, iv.end);
      for (const a of [this.start, this.end, this.state, this.cpu, this.kst, this.ust, this.flags]) a.copyWithin(i + 1, i, this.n);
    }
    this.start[i] = iv.start; this.end[i] = iv.end; this.state[i] = iv.state; this.cpu[i] = iv.cpu;
    this.kst[i] = iv.kstack; this.ust[i] = iv.ustack; this.flags[i] = iv.flags;
    this.n++;
    if (iv.end > this.lastEnd) this.lastEnd = iv.end;
  }

  /** Buckets held: [bucketsFrom, bucketsTo). */
  get bucketsTo(): number {
    return this.bucketsFrom + this.buckets.length / NK;
  }

  /**
   * Holds grid buckets [lo, hi) at least: the span grows to twice what is asked (later, where time
   * goes; within the grid), so a lane that lives on reallocates a few times a grid, not at each bucket.
   */
  cover(lo: number, hi: number): void {
    const had = this.buckets.length > 0, from = this.bucketsFrom, to = this.bucketsTo;
    if (had && lo >= from && hi <= to) return;
    const nlo = had ? Math.min(lo, from) : lo, end = had ? Math.max(hi, to) : hi;
    const nhi = Math.min(GRID, nlo + 2 * (end - nlo));
    const b = new Float64Array((nhi - nlo) * NK);
    if (had) b.set(this.buckets, (from - nlo) * NK);
    this.buckets = b;
    this.bucketsFrom = nlo;
  }

  /** The grid's buckets merge in pairs (its width doubles): bucket b becomes b / 2. */
  halveBuckets(): void {
    if (this.buckets.length === 0) return;
    const from = this.bucketsFrom, to = this.bucketsTo, nfrom = Math.floor(from / 2);
    const b = new Float64Array((Math.ceil(to / 2) - nfrom) * NK);
    for (let i = from; i < to; i++) {
      for (let k = 0; k < NK; k++) b[(Math.floor(i / 2) - nfrom) * NK + k] += this.buckets[(i - from) * NK + k];
    }
    this.buckets = b;
    this.bucketsFrom = nfrom;
  }

  /** Drops the first k intervals' detail. */
  drop(k: number): void {
    if (k <= 0) return;
    this.keptFrom = Math.max(this.keptFrom, this.end[k - 1]);
    for (const a of [this.start, this.end, this.state, this.cpu, this.kst, this.ust, this.flags]) a.copyWithin(0, k, this.n);
    this.n -= k;
    this.dropped += k;
  }
}

/** Two pixels' times split between the kinds in nearly the same shares (within 5 points each). */
function alike(a: number[], b: number[]): boolean {
  const ta = a.reduce((x, y) => x + y, 0), tb = b.reduce((x, y) => x + y, 0);
  for (let k = 0; k < NK; k++) if (Math.abs(a[k] / ta - b[k] / tb) > 0.05) return false;
  return true;
}

/** A share to three digits: what a pixel can show, and a third of the bytes on the wire. */
const share = (x: number) => Math.round(x * 1000) / 1000;

/** In a view from the buckets, an interval this many pixels long or more is drawn as itself. */
const LONG_PX = 3;

/** The first index of lane.long whose interval ends after t (kept ones; evicted ones sort first). */
function upperBoundIds(lane: Lane, t: number): number {
  let lo = 0, hi = lane.long.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const i = lane.long[mid] - lane.dropped;
    if (i < 0 || lane.end[i] <= t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** The first index in a[0..n) whose value is greater than x. */
function upperBound(a: Float64Array, n: number, x: number): number {
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

export class Timeline {
  private readonly lanes = new Map<number, Lane>();
  /** Bucket width, ns. */
  width = FIRST_WIDTH;
  /** Intervals kept in detail, every lane together. */
  kept = 0;

  /** budget: intervals kept in detail before the oldest go (28 bytes each); origin: where the grid starts (ns). */
  constructor(readonly budget = 4_000_000, readonly origin = 0) {}

  add(iv: IntervalIn): void {
    if (!(iv.end >= iv.start)) return;
    let lane = this.lanes.get(iv.tid);
    if (!lane) this.lanes.set(iv.tid, lane = new Lane(iv.tid));
    while (iv.end - this.origin > this.width * GRID) this.coarsen();
    lane.push(iv, this.width);
    this.addToBuckets(lane, iv.start, iv.end, kindOfState(iv.state));
    if (++this.kept > this.budget) this.shed();
  }

  /** s, e: ns on the records' clock; the grid counts from the origin, and nothing before it. */
  private addToBuckets(lane: Lane, start: number, end: number, kind: number): void {
    const w = this.width, s = Math.max(0, start - this.origin), e = end - this.origin;
    const first = Math.floor(s / w), last = Math.min(GRID, Math.ceil(e / w)); // buckets [first, last)
    if (!(last > first)) return;
    lane.cover(first, last);
    for (let b = first; b < last; b++) {
      const overlap = Math.min(e, (b + 1) * w) - Math.max(s, b * w);
      if (overlap > 0) lane.buckets[(b - lane.bucketsFrom) * NK + kind] += overlap;
    }
  }

  /**
   * The run outgrew the grid: every lane's buckets merge in pairs, and the width doubles. The long
   * intervals' lists keep only what is long at the new width (and still kept): a grid's worth.
   */
  private coarsen(): void {
    for (const lane of this.lanes.values()) {
      lane.long = lane.long.filter(id => {
        const i = id - lane.dropped;
        return i >= 0 && lane.end[i] - lane.start[i] >= 2 * this.width;
      });
      lane.halveBuckets();
    }
    this.width *= 2;
  }

  /** Over budget: the oldest tenth of every lane's detail goes (its buckets stay). */
  private shed(): void {
    for (const lane of this.lanes.values()) {
      const k = Math.ceil(lane.n / 10);
      lane.drop(k);
      this.kept -= k;
    }
  }

  threads(): number[] {
    return [...this.lanes.keys()];
  }

  /** The time span of every lane: [first start, last end] (ns), or undefined with no interval. */
  span(): [number, number] | undefined {
    let lo = Infinity, hi = -Infinity;
    for (const l of this.lanes.values()) {
      if (l.n === 0) continue;
      lo = Math.min(lo, l.start[0]);
      hi = Math.max(hi, l.lastEnd);
    }
    return lo <= hi ? [lo, hi] : undefined;
  }

  /** Each of `tids` (every lane if none) over [from, to), for a view `px` pixels wide. */
  view(from: number, to: number, px: number, tids?: number[]): LaneView[] {
    const p = (to - from) / Math.max(1, px);
    return (tids ?? this.threads()).map(tid => {
      const lane = this.lanes.get(tid);
      const v: LaneView = { tid, start: [], end: [], kind: [], id: [], n: [], why: [], mix: [], coarse: false };
      if (!lane || !(to > from)) return v;
      if (p >= this.width || from < lane.keptFrom) this.fromBuckets(lane, from, to, px, v);
      else this.fromIntervals(lane, from, to, p, v);
      return v;
    });
  }

  private fromIntervals(lane: Lane, from: number, to: number, p: number, v: LaneView): void {
    let agg: { s: number; e: number; n: number; t: number[] } | undefined;
    const flush = () => {
      if (!agg) return;
      let best = 0;
      for (let k = 1; k < NK; k++) if (agg.t[k] > agg.t[best]) best = k;
      const total = agg.t.reduce((a, b) => a + b, 0) || 1;
      v.start.push(agg.s); v.end.push(agg.e); v.kind.push(best); v.id.push(-1); v.n.push(agg.n); v.why.push(0);
      v.mix.push(...agg.t.map(x => share(x / total)));
      agg = undefined;
    };
    for (let i = upperBound(lane.end, lane.n, from); i < lane.n && lane.start[i] < to; i++) {
      const s = lane.start[i], e = lane.end[i];
      const kind = kindOfState(lane.state[i]);
      if (e - s >= p) {
        flush();
        v.start.push(s); v.end.push(e); v.kind.push(kind); v.id.push(i + lane.dropped); v.n.push(1); v.why.push(lane.kst[i]);
        continue;
      }
      if (agg && s - agg.e > p / 2) flush(); // a gap in the lane: not part of the merged segment
      agg ??= { s, e, n: 0, t: new Array(NK).fill(0) };
      agg.e = e;
      agg.n++;
      agg.t[kind] += e - s;
      if (agg.e - agg.s >= p) flush();
    }
    flush();
  }

  private fromBuckets(lane: Lane, from: number, to: number, px: number, v: LaneView): void {
    v.coarse = true;
    const w = this.width, p = (to - from) / px, o = this.origin;
    // the intervals a pixel or more long that are kept, as they are
    const covered: Array<[number, number]> = [];
    for (let k = upperBoundIds(lane, from); k < lane.long.length; k++) {
      const i = lane.long[k] - lane.dropped;
      if (i < 0) continue;
      const s = lane.start[i], e = lane.end[i];
      if (s >= to) break;
      if (e - s < LONG_PX * p) continue;
      v.start.push(s); v.end.push(e); v.kind.push(kindOfState(lane.state[i])); v.id.push(lane.long[k]); v.n.push(1); v.why.push(lane.kst[i]);
      covered.push([s, e]);
    }
    let c = 0;
    let prev: { s: number; e: number; kind: number; t: number[]; x: number } | undefined;
    const emit = () => {
      if (!prev) return;
      const total = prev.t.reduce((a, b) => a + b, 0);
      v.start.push(prev.s); v.end.push(prev.e); v.kind.push(prev.kind); v.id.push(-1); v.n.push(0); v.why.push(0);
      v.mix.push(...prev.t.map(x => share(x / total)));
      prev = undefined;
    };
    for (let x = 0; x < px; x++) {
      const s = from + x * p, e = s + p;
      while (c < covered.length && covered[c][1] <= s) c++;
      if (c < covered.length && covered[c][0] <= s && covered[c][1] >= e) { emit(); continue; } // drawn as the interval
      const t = new Array<number>(NK).fill(0);
      for (let b = Math.max(lane.bucketsFrom, Math.floor((s - o) / w)); o + b * w < e && b < lane.bucketsTo; b++) {
        const share = (Math.min(e, o + (b + 1) * w) - Math.max(s, o + b * w)) / w;
        if (share <= 0) continue;
        for (let k = 0; k < NK; k++) t[k] += lane.buckets[(b - lane.bucketsFrom) * NK + k] * share; // b within the lane's span
      }
      const total = t.reduce((a, c) => a + c, 0);
      if (total <= 0) { emit(); continue; } // the thread was not there
      let best = 0;
      for (let k = 1; k < NK; k++) if (t[k] > t[best]) best = k;
      if (prev && prev.kind === best && prev.x === x - 1 && alike(prev.t, t)) { // the pixel before, shared alike: one segment
        prev.e = e;
        prev.x = x;
        for (let k = 0; k < NK; k++) prev.t[k] += t[k];
      } else {
        emit();
        prev = { s, e, kind: best, t, x };
      }
    }
    emit();
  }

  /** An interval by its id (LaneView.id), or undefined if its detail is no longer kept. */
  detail(tid: number, id: number): IntervalDetail | undefined {
    const lane = this.lanes.get(tid);
    const i = lane ? id - lane.dropped : -1;
    if (!lane || i < 0 || i >= lane.n) return undefined;
    return {
      tid, id, start: lane.start[i], end: lane.end[i], state: lane.state[i], kind: kindOfState(lane.state[i]), cpu: lane.cpu[i],
      kstack: lane.kst[i], ustack: lane.ust[i], flags: lane.flags[i],
    };
  }

  /**
   * What a self-contained page needs to answer the same views: every lane's kept intervals, and its
   * buckets where some detail has gone (otherwise they are made again from the intervals).
   */
  toJSON(): TimelineData {
    return {
      width: this.width, budget: this.budget, origin: this.origin,
      lanes: [...this.lanes.values()].map(l => ({
        tid: l.tid, dropped: l.dropped, keptFrom: Number.isFinite(l.keptFrom) ? l.keptFrom : null,
        start: b64(l.start.subarray(0, l.n)), end: b64(l.end.subarray(0, l.n)), state: b64(l.state.subarray(0, l.n)),
        cpu: b64(l.cpu.subarray(0, l.n)), kstack: b64(l.kst.subarray(0, l.n)), ustack: b64(l.ust.subarray(0, l.n)),
        flags: b64(l.flags.subarray(0, l.n)), buckets: l.dropped ? b64(new Float32Array(l.buckets)) : null, bucketsFrom: l.bucketsFrom,
      })),
    };
  }

  static fromJSON(d: TimelineData): Timeline {
    const t = new Timeline(d.budget, d.origin);
    while (t.width < d.width) t.width *= 2;
    for (const l of d.lanes) {
      const lane = new Lane(l.tid);
      lane.dropped = l.dropped;
      const start = new Float64Array(unb64(l.start)), end = new Float64Array(unb64(l.end)), state = new Uint8Array(unb64(l.state));
      const cpu = new Uint16Array(unb64(l.cpu)), kst = new Uint32Array(unb64(l.kstack)), ust = new Uint32Array(unb64(l.ustack));
      const flags = new Uint8Array(unb64(l.flags));
      for (let i = 0; i < start.length; i++) {
        lane.push({ tid: l.tid, start: start[i], end: end[i], state: state[i], cpu: cpu[i], kstack: kst[i], ustack: ust[i], flags: flags[i] }, t.width);
        if (!l.buckets) t.addToBuckets(lane, start[i], end[i], kindOfState(state[i]));
      }
      if (l.buckets) {
        lane.buckets = Float64Array.from(new Float32Array(unb64(l.buckets)));
        lane.bucketsFrom = l.bucketsFrom ?? 0;
      }
      lane.keptFrom = l.keptFrom ?? -Infinity;
      t.lanes.set(l.tid, lane);
      t.kept += lane.n;
    }
    return t;
  }

  /** Bytes the typed arrays hold (capacity, not only what is used). */
  bytes(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.start.length * 28 + l.buckets.byteLength;
    return n;
  }
}
