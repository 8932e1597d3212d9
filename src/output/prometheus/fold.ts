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
import { OTHER } from './items.js';
import type { Labels, MetricType, Sample } from './metric.js';
import type { Target } from './state.js';

import type { FoldOptions } from './limits.js';
export { DEFAULT_FOLD, type FoldOptions } from './limits.js';

/** A metric with series per target. */
export interface TargetMetric {
  name: string;
  help: string;
  type: MetricType;
  /** The target's samples (labels begin with the target's); [] if it has none in this metric. */
  samples(t: Target): Sample[];
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

interface Folded { labels: Labels; suffix: Sample['suffix']; value: number }

/** One metric's fold between scrapes. */
class MetricFold {
  /** Targets with their own series at the last scrape. */
  shown = new Set<Target>();
  /** Targets counted in "(other)" at the last scrape. */
  folded = new Set<Target>();
  /** A target's figures when it lost its own series, by folded key: what "(other)" leaves out. */
  readonly base = new Map<Target, Map<string, number>>();
  /** What targets no longer folded added while they were. */
  readonly retired = new Map<string, Folded>();
  /** Counters and histograms: "(other)"'s raw sum and what was served, by key. */
  readonly served = new Map<string, { raw: number; out: number; labels: Labels; suffix: Sample['suffix'] }>();
  constructor(readonly def: TargetMetric) {}
  get counter(): boolean { return this.def.type !== 'gauge'; }
}

export class Folder {
  private readonly folds: MetricFold[];
  private readonly out = new Map<string, Sample[]>();
  private readonly labelValues = new Map<string, Set<string>>();
  private readonly everFolded = new WeakSet<Target>();
  /** Targets that have been folded at least once, since the start. */
  foldedTargets = 0;
  /** Series the last scrape folded into "(other)" (that the targets would have had of their own). */
  foldedSeries = 0;
  /** Per-target series the last scrape served ("(other)"'s not counted). */
  ownSeries = 0;
  /** The N of the last scrape: opts.top, or less to keep within opts.maxSeries. */
  top = 0;

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
    // each metric's targets by its value, the largest first, with their samples
    const ranked = this.folds.map(f => {
      if (f.def.followsOthers) return [];
      const rows: Array<{ t: Target; s: Sample[]; w: number }> = [];
      for (const t of all) {
        if (t.labels.comm === OTHER) continue; // the model's overflow entry: always folded
        const s = f.def.samples(t);
        if (s.length) rows.push({ t, s, w: weight(s) });
      }
      // ties: those shown already keep their place (no flapping between equals), then by id
      return rows.sort((a, b) => b.w - a.w || Number(f.shown.has(b.t)) - Number(f.shown.has(a.t)) || Number(a.t.pid) - Number(b.t.pid));
    });
    const n = this.top = this.topWithin(ranked);
    const shownAny = new Set<Target>();
    for (let i = 0; i < this.folds.length; i++) if (!this.folds[i].def.followsOthers) for (const r of ranked[i].slice(0, n)) shownAny.add(r.t);
    this.ownSeries = this.foldedSeries = 0;
    this.folds.forEach((f, i) => {
      let rows = ranked[i];
      let shown: Set<Target>;
      if (f.def.followsOthers) {
        rows = all.filter(t => t.labels.comm !== OTHER).map(t => ({ t, s: f.def.samples(t), w: 0 })).filter(r => r.s.length);
        shown = new Set(rows.filter(r => shownAny.has(r.t)).map(r => r.t));
      } else {
        shown = new Set(rows.slice(0, n).map(r => r.t));
      }
      this.out.set(f.def.name, this.fold(f, rows, shown, all));
    });
  }

  /** The largest N <= top whose shown series, all metrics together, stay within the ceiling. */
  private topWithin(ranked: Array<Array<{ t: Target; s: Sample[] }>>): number {
    const series = (n: number) => {
      let total = 0;
      const any = new Set<Target>();
      for (const rows of ranked) for (const r of rows.slice(0, n)) { total += r.s.length; any.add(r.t); }
      return total + any.size * this.folds.filter(f => f.def.followsOthers).length;
    };
    let lo = 0, hi = this.opts.top;
    if (series(hi) <= this.opts.maxSeries) return hi;
    while (lo < hi - 1) { const mid = (lo + hi) >> 1; if (series(mid) <= this.opts.maxSeries) lo = mid; else hi = mid; }
    return lo;
  }

  private fold(f: MetricFold, rows: Array<{ t: Target; s: Sample[] }>, shown: Set<Target>, all: Target[]): Sample[] {
    const out: Sample[] = [];
    const folded = new Set<Target>();
    const sums = new Map<string, Folded>();
    const add = (into: Map<string, Folded>, key: string, x: Folded, max = false) => {
      const y = into.get(key);
      if (!y) into.set(key, { ...x });
      else y.value = max ? Math.max(y.value, x.value) : y.value + x.value;
    };
    const foldedOf = (s: Sample[]) => s.map(x => { const labels = this.otherLabels(x.labels); return { key: keyOf(labels, x.suffix), labels, suffix: x.suffix, value: x.value }; });
    // the model's overflow entry: folded from zero, always
    const rowsAll = [...rows];
    const overflow = all.find(t => t.labels.comm === OTHER);
    if (overflow && !f.def.followsOthers) { const s = f.def.samples(overflow); if (s.length) rowsAll.push({ t: overflow, s }); }
    for (const { t, s } of rowsAll) {
      if (shown.has(t)) {
        out.push(...s);
        this.ownSeries += s.length;
        if (f.folded.has(t)) this.retire(f, t, s); // shown again: what it did while folded stays in "(other)"
        continue;
      }
      folded.add(t);
      if (t.labels.comm !== OTHER) {
        this.foldedSeries += s.length;
        if (!this.everFolded.has(t)) { this.everFolded.add(t); this.foldedTargets++; }
      }
      const xs = foldedOf(s);
      if (f.counter && f.shown.has(t)) f.base.set(t, new Map(xs.map(x => [x.key, x.value]))); // it was shown until now
      const base = f.base.get(t);
      for (const x of xs) {
        const value = f.counter ? x.value - (base?.get(x.key) ?? 0) : x.value;
        add(sums, x.key, { ...x, value }, !f.counter && f.def.gauge === 'max');
      }
    }
    if (f.counter) {
      for (const [k, r] of f.retired) add(sums, k, r);
      for (const [k, x] of sums) {
        const was = f.served.get(k);
        // only increases: a sum that went back (see the top of this file) is not a reset of "(other)"
        if (!was) f.served.set(k, { raw: x.value, out: Math.max(0, x.value), labels: x.labels, suffix: x.suffix });
        else { was.out += Math.max(0, x.value - was.raw); was.raw = x.value; }
      }
      // every series "(other)" ever had stays: a counter that vanished and came back lower would be a reset
      for (const x of f.served.values()) out.push({ labels: x.labels, value: x.out, suffix: x.suffix });
    } else {
      for (const x of sums.values()) out.push({ labels: x.labels, value: x.value, suffix: x.suffix });
    }
    for (const t of f.base.keys()) if (!folded.has(t)) f.base.delete(t);
    f.shown = shown;
    f.folded = folded;
    return out;
  }

  /** A folded target leaves "(other)" (shown again, or dropped): what it added there is kept. */
  private retire(f: MetricFold, t: Target, s = f.def.samples(t)): void {
    f.folded.delete(t);
    if (!f.counter) return;
    const base = f.base.get(t);
    f.base.delete(t);
    for (const x of s) {
      const labels = this.otherLabels(x.labels);
      const key = keyOf(labels, x.suffix);
      const value = x.value - (base?.get(key) ?? 0);
      const r = f.retired.get(key);
      if (r) r.value += value;
      else f.retired.set(key, { labels, suffix: x.suffix, value });
    }
  }

  /**
   * A target the state drops (its series go): its part of "(other)" stays there. One no scrape has
   * seen (it began and ended between two) goes into "(other)" whole: nothing it did is lost.
   */
  drop(t: Target): void {
    for (const f of this.folds) {
      if (!f.shown.has(t) && t.labels.comm !== OTHER) this.retire(f, t);
      f.shown.delete(t);
      f.base.delete(t);
    }
  }

  /** A sample's labels as "(other)"'s: the target's replaced, unbounded values folded too. */
  private otherLabels(l: Labels): Labels {
    const out: Labels = {};
    for (const k in l) {
      if (k === 'cgroup') continue;
      if (TARGET_LABELS.has(k)) { out[k] = k === 'comm' ? OTHER : ''; continue; }
      const cap = OTHER_LABEL_VALUES[k];
      if (cap === undefined) { out[k] = l[k]; continue; }
      let seen = this.labelValues.get(k);
      if (!seen) this.labelValues.set(k, seen = new Set());
      const v = String(l[k]);
      if (!seen.has(v) && seen.size < cap && v !== OTHER) seen.add(v);
      out[k] = seen.has(v) ? v : OTHER;
    }
    return out;
  }
}

/** A target's value in a metric, to rank by: its counts (a histogram's _count), not its buckets. */
function weight(s: Sample[]): number {
  let w = 0;
  const histogram = s.some(x => x.suffix === '_count');
  for (const x of s) if (histogram ? x.suffix === '_count' : !x.suffix) w += x.value;
  return w;
}

function keyOf(labels: Labels, suffix: Sample['suffix']): string {
  let k = suffix ?? '';
  for (const n in labels) k += `\0${n}=${labels[n]}`;
  return k;
}
