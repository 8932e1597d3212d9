// Which targets have series of their own at a scrape, and what "(other)" adds up. Under a fork storm
// every short-lived process is a target: a thousand targets of ~100 series each made /metrics 113,000
// series (12 MB, 8-10 s to render on a loaded host, every scrape timed out: bench/load.ts). So, per
// metric, only the top `top` targets by that metric's value have their own label sets (like the text
// output's --top), within a ceiling of `maxSeries` per-target series per scrape (the same smaller N for
// every metric when it would be passed); the others fold into the target "(other)" (comm="(other)",
// tgid="", pid="" with --metrics-threads), keeping their other labels (state, syscall, le...) but
// those with unbounded values (lock addresses; waker names and syscalls past a few dozen).
//
// Prometheus semantics kept: "(other)"'s counters never go back, and rate() of every series together
// is the rate of every target. A target that has series of its own counts in "(other)" only while it
// is folded, and only what it did meanwhile: its figures at the moment it lost its own series are its
// baseline there; what it added while folded stays in "(other)" ("retired") once it is shown again or
// dropped. A target never shown counts in "(other)" from zero. Anything that still makes "(other)"'s
// raw sum go back (a new activation restarting the kernel's aggregates, a thread moving from the
// model's overflow entry to an entry of its own) is absorbed: "(other)" then adds only increases.
//
// Ended targets: one folded whose last figures a scrape has read is "settled" (its part retired once,
// not looked at again), and one without series of its own anywhere leaves the model at the next
// scrape (state.ts, prune): under a fork storm, the work of a scrape follows the living targets.
import { OTHER } from './items.js';
import type { FoldOptions } from './limits.js';
import { rowSamples, rowValues, type Labels, type MetricType, type Row, type Sample } from './metric.js';
import type { Target } from './state.js';
export { DEFAULT_FOLD, type FoldOptions } from './limits.js';

/** A metric with series per target. */
export interface TargetMetric {
  name: string;
  help: string;
  type: MetricType;
  /** The target's rows (labels begin with the target's); [] if it has none in this metric. */
  samples(t: Target): Row[];
  /** How "(other)" adds up a gauge: the sum (memory, targets alive), or the largest (a max). */
  gauge?: 'sum' | 'max';
  /** Shown for the targets shown in any other metric (procimage_target_up: which targets are there). */
  followsOthers?: boolean;
}

/** Labels of the target itself: they go in "(other)". */
const TARGET_LABELS = new Set(['pid', 'tgid', 'comm', 'cgroup']);

/**
 * Label values "(other)" keeps, at most, per label (the first seen, then "(other)"): the rest are
 * per-process things (addresses) or could grow with what runs.
 */
export const OTHER_LABEL_VALUES: Record<string, number> = { lock: 0, waker: 16, syscall: 64 };

type Ranked = { t: Target; rows: Row[]; series: number; w: number };

/** One metric's fold between scrapes; figures by "(other)"'s key, a row's values (a histogram's 30). */
class MetricFold {
  /** Targets with their own series at the last scrape. */
  shown = new Set<Target>();
  /** Targets counted in "(other)" at the last scrape. */
  folded = new Set<Target>();
  /**
   * Folded targets that have ended, their last figures read: their part is in `retired` for good and
   * they are no longer looked at (under a fork storm, most of the model), by the series they had.
   */
  readonly settled = new Map<Target, number>();
  /** A target's figures when it lost its own series: what "(other)" leaves out. */
  readonly base = new Map<Target, Map<string, number[]>>();
  /** What targets no longer folded added while they were. */
  readonly retired = new Map<string, number[]>();
  /** Counters and histograms: "(other)"'s raw sum and what was served. */
  readonly served = new Map<string, { raw: number[]; out: number[] }>();
  constructor(readonly def: TargetMetric) {}
  get counter(): boolean { return this.def.type !== 'gauge'; }
}

export class Folder {
  private readonly folds: MetricFold[];
  private readonly out = new Map<string, Sample[]>();
  private readonly labelValues = new Map<string, Set<string>>();
  /** "(other)"'s rows by key: their labels and shape (bounded: "(other)"'s label sets are). */
  private readonly keys = new Map<string, { labels: Labels; like: Row }>();
  private readonly everFolded = new WeakSet<Target>();
  /** Targets that have been folded at least once, since the start. */
  foldedTargets = 0;
  /** Series the last scrape folded into "(other)" (that the targets would have had of their own). */
  foldedSeries = 0;
  /** Per-target series the last scrape served ("(other)"'s not counted). */
  ownSeries = 0;
  /** The N of the last scrape: opts.top, or less to keep within opts.maxSeries. */
  top = 0;
  /** Targets with series of their own at the last scrape, in some metric. */
  private shownAny = new Set<Target>();

  constructor(defs: TargetMetric[], private readonly opts: FoldOptions) {
    this.folds = defs.map(d => new MetricFold(d));
  }

  /** The samples of a metric at the last prepare(). */
  samples(name: string): Sample[] {
    return this.out.get(name) ?? [];
  }

  /** Computes every metric's samples from the targets now: once per scrape. */
  prepare(targets: Iterable<Target>): void {
    const all = [...targets];
    const rank = (f: MetricFold): Ranked[] => {
      const rows: Ranked[] = [];
      for (const t of all) {
        if (t.labels.comm === OTHER || f.settled.has(t)) continue; // the model's overflow entry: always folded
        const r = f.def.samples(t);
        if (r.length) rows.push({ t, rows: r, series: seriesOf(r), w: f.def.followsOthers ? 0 : weight(r) });
      }
      // ties: those shown already keep their place (no flapping between equals), then by id
      return rows.sort((a, b) => b.w - a.w || Number(f.shown.has(b.t)) - Number(f.shown.has(a.t)) || a.t.pid - b.t.pid);
    };
    // each metric's targets by its value, the largest first
    const ranked = this.folds.map(rank);
    const n = this.top = this.topWithin(ranked);
    const shownAny = this.shownAny = new Set<Target>();
    this.folds.forEach((f, i) => { if (!f.def.followsOthers) for (const r of topOf(ranked[i], n)) shownAny.add(r.t); });
    this.ownSeries = this.foldedSeries = 0;
    const overflow = all.find(t => t.labels.comm === OTHER);
    this.folds.forEach((f, i) => {
      const shown = new Set(f.def.followsOthers ? ranked[i].filter(r => shownAny.has(r.t)).map(r => r.t) : topOf(ranked[i], n).map(r => r.t));
      const rows = ranked[i];
      // the model's overflow entry: folded from zero, always
      if (overflow && !f.def.followsOthers) { const r = f.def.samples(overflow); if (r.length) rows.push({ t: overflow, rows: r, series: seriesOf(r), w: 0 }); }
      this.out.set(f.def.name, this.fold(f, rows, shown));
    });
  }

  /** The largest N <= top whose shown series, all metrics together, stay within the ceiling. */
  private topWithin(ranked: Ranked[][]): number {
    const follow = this.folds.filter(f => f.def.followsOthers).length;
    const series = (n: number) => {
      let total = 0;
      const any = new Set<Target>();
      this.folds.forEach((f, i) => { if (!f.def.followsOthers) for (const r of topOf(ranked[i], n)) { total += r.series; any.add(r.t); } });
      return total + any.size * follow;
    };
    let lo = 0, hi = this.opts.top;
    if (series(hi) <= this.opts.maxSeries) return hi;
    while (lo < hi - 1) { const mid = (lo + hi) >> 1; if (series(mid) <= this.opts.maxSeries) lo = mid; else hi = mid; }
    return lo;
  }

  private fold(f: MetricFold, ranked: Ranked[], shown: Set<Target>): Sample[] {
    const out: Sample[] = [];
    const folded = new Set<Target>();
    // "(other)"'s sums by key: the hot loop of a fork storm, kept to numbers
    const sums = new Map<string, number[]>();
    const max = !f.counter && f.def.gauge === 'max';
    for (const { t, rows, series } of ranked) {
      if (shown.has(t)) {
        for (const r of rows) for (const x of rowSamples(r)) out.push(x);
        this.ownSeries += series;
        if (f.folded.has(t)) this.retire(f, t, rows); // shown again: what it did while folded stays in "(other)"
        continue;
      }
      if (t.labels.comm !== OTHER) {
        this.foldedSeries += series;
        if (!this.everFolded.has(t)) { this.everFolded.add(t); this.foldedTargets++; }
        if (!t.alive && t.endRead && !f.shown.has(t)) {
          // ended, its last figures read, folded already: its part goes to `retired` once and for all
          if (f.counter) { f.folded.add(t); this.retire(f, t, rows); }
          f.settled.set(t, series);
          continue;
        }
      }
      folded.add(t);
      // shown until now: its figures now are its baseline (it adds nothing this time)
      const demoted = f.counter && f.shown.has(t) ? new Map<string, number[]>() : undefined;
      const base = f.counter && !demoted ? f.base.get(t) : undefined;
      for (const r of rows) {
        const key = this.otherKey(r);
        if (demoted) { demoted.set(key, addInto(demoted.get(key), rowValues(r))); continue; }
        const b = base?.get(key);
        const sum = sums.get(key);
        if (!('histogram' in r)) { // a sample: no array made for it (most rows)
          const v = r.value - (b ? b[0] : 0);
          if (!sum) sums.set(key, [v]);
          else sum[0] = max ? Math.max(sum[0], v) : sum[0] + v;
          continue;
        }
        const v = r.values;
        if (!sum) sums.set(key, b ? v.map((x, k) => x - b[k]) : v.slice());
        else for (let k = 0; k < v.length; k++) sum[k] += v[k] - (b ? b[k] : 0);
      }
      if (demoted) {
        f.base.set(t, demoted);
        for (const [key, v] of demoted) if (!sums.has(key)) sums.set(key, new Array<number>(v.length).fill(0));
      }
    }
    if (f.counter) {
      for (const [k, r] of f.retired) sums.set(k, addInto(sums.get(k), r));
      for (const [k, raw] of sums) {
        const was = f.served.get(k);
        if (!was) { f.served.set(k, { raw, out: raw.map(x => Math.max(0, x)) }); continue; }
        // only increases: a sum that went back (see the top of this file) is not a reset of "(other)"
        for (let i = 0; i < raw.length; i++) was.out[i] += Math.max(0, raw[i] - was.raw[i]);
        was.raw = raw;
      }
      // every series "(other)" ever had stays (a counter that vanished and came back lower would be a
      // reset); one nothing adds to now counts from zero again
      for (const [k, x] of f.served) {
        if (!sums.has(k)) x.raw = x.raw.map(() => 0);
        const { labels, like } = this.keys.get(k)!;
        for (const s of rowSamples(like, labels, x.out)) out.push(s);
      }
    } else {
      for (const [k, v] of sums) { const { labels, like } = this.keys.get(k)!; for (const s of rowSamples(like, labels, v)) out.push(s); }
    }
    for (const n of f.settled.values()) this.foldedSeries += n;
    for (const t of f.base.keys()) if (!folded.has(t)) f.base.delete(t);
    f.shown = shown;
    f.folded = folded;
    return out;
  }

  /** A folded target leaves "(other)" (shown again, or dropped): what it added there is kept. */
  private retire(f: MetricFold, t: Target, rows = f.def.samples(t)): void {
    f.folded.delete(t);
    if (!f.counter) return;
    const base = f.base.get(t);
    f.base.delete(t);
    for (const r of rows) {
      const key = this.otherKey(r);
      const v = rowValues(r), b = base?.get(key);
      f.retired.set(key, addInto(f.retired.get(key), b ? v.map((x, k) => x - b[k]) : v));
    }
  }

  /** Whether the last scrape served series of the target's own. */
  hasSeries(t: Target): boolean {
    return this.shownAny.has(t);
  }

  /**
   * A target the state drops (its series go): its part of "(other)" stays there. One no scrape has
   * seen (it began and ended between two) goes into "(other)" whole: nothing it did is lost.
   */
  drop(t: Target): void {
    for (const f of this.folds) {
      if (f.folded.has(t) || (!f.shown.has(t) && !f.settled.has(t) && t.labels.comm !== OTHER)) this.retire(f, t);
      f.settled.delete(t);
      f.shown.delete(t);
      f.base.delete(t);
    }
    this.shownAny.delete(t);
  }

  /**
   * A row's series in "(other)": its labels with the target's replaced and unbounded values folded
   * too, as a key (the labels themselves kept in this.keys, made once per key).
   */
  private otherKey(r: Row): string {
    const l = r.labels;
    let key = 'histogram' in r ? 'h' : (r.suffix ?? '');
    for (const k in l) {
      if (TARGET_LABELS.has(k)) { if (k !== 'cgroup') key += `\0${k}`; continue; }
      const cap = OTHER_LABEL_VALUES[k];
      key += `\0${k}=${cap === undefined ? l[k] : this.limited(k, String(l[k]), cap)}`;
    }
    if (!this.keys.has(key)) {
      const labels: Labels = {};
      for (const k in l) {
        if (k === 'cgroup') continue;
        if (TARGET_LABELS.has(k)) labels[k] = k === 'comm' ? OTHER : '';
        else { const cap = OTHER_LABEL_VALUES[k]; labels[k] = cap === undefined ? l[k] : this.limited(k, String(l[k]), cap); }
      }
      this.keys.set(key, { labels, like: r });
    }
    return key;
  }

  /** A label value "(other)" keeps: the first `cap` seen of that label, the rest "(other)". */
  private limited(k: string, v: string, cap: number): string {
    let seen = this.labelValues.get(k);
    if (!seen) this.labelValues.set(k, seen = new Set());
    if (!seen.has(v) && seen.size < cap && v !== OTHER) seen.add(v);
    return seen.has(v) ? v : OTHER;
  }
}

/** a + b, element by element, into a (a new array if there is no a). */
function addInto(a: number[] | undefined, b: number[]): number[] {
  if (!a) return b.slice();
  for (let k = 0; k < b.length; k++) a[k] += b[k];
  return a;
}

/**
 * The first n of the ranked rows of each kind of target: with --metrics-threads the processes' own
 * entries (their resource figures) rank apart from the threads, whose figures theirs include.
 */
function topOf(ranked: Ranked[], n: number): Ranked[] {
  const out: Ranked[] = [];
  let procs = 0, threads = 0;
  for (const r of ranked) {
    if (r.t.processView ? procs++ < n : threads++ < n) out.push(r);
    if (procs >= n && threads >= n) break;
  }
  return out;
}

/** Series a target's rows are served as. */
const seriesOf = (rows: Row[]) => rows.reduce((n, r) => n + ('histogram' in r ? r.values.length : 1), 0);

/** A target's value in a metric, to rank by: its counts (a histogram's _count), not its buckets. */
function weight(rows: Row[]): number {
  let w = 0;
  for (const r of rows) w += 'histogram' in r ? r.values[r.values.length - 1] : r.value;
  return w;
}
