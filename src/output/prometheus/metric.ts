// A metric computed when Prometheus scrapes, for prom-client's Registry: label sets come and go with
// what procimage sees (the slides' "dynamically extensible table headers"), and the kernel's log2
// histograms become cumulative `le` buckets directly (prom-client's Histogram only observes values).

export type Labels = Record<string, string | number>;

export interface Sample {
  labels: Labels;
  value: number;
  suffix?: '_bucket' | '_sum' | '_count';
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

export class ScrapeMetric {
  constructor(readonly name: string, readonly help: string, readonly type: MetricType,
    private readonly collect: () => Sample[]) {}

  /** The shape prom-client's Registry renders. */
  get() {
    return {
      name: this.name, help: this.help, type: this.type, aggregator: 'sum',
      values: this.collect().map(s => ({ labels: s.labels, value: s.value, metricName: this.name + (s.suffix ?? '') })),
    };
  }
}

/**
 * Buckets of a histogram whose slot i counts values in [2^i, 2^(i+1)) ns: `le` = 2^(i+1) ns in
 * seconds, from 2^10 ns (~1 µs) to 2^36 ns (~69 s); below the first, all slots are folded into it.
 */
export const LOG2_FIRST = 9, LOG2_LAST = 35;
export const LOG2_BOUNDS_S = Array.from({ length: LOG2_LAST - LOG2_FIRST + 1 }, (_, k) => 2 ** (LOG2_FIRST + k + 1) / 1e9);

export function log2HistogramSamples(labels: Labels, slots: number[], count: number, sumNs: number): Sample[] {
  return rowSamples(log2HistogramRow(labels, slots, count, sumNs));
}

/**
 * A target's part of a metric before it is served (fold.ts): one sample, or a whole histogram as
 * its values in the order log2HistogramSamples gives them (the buckets, +Inf, _sum, _count), so
 * that a folded histogram adds up as numbers, not as 30 labelled samples.
 */
export type Row = Sample | { labels: Labels; values: number[]; histogram: true };

export function log2HistogramRow(labels: Labels, slots: number[], count: number, sumNs: number): Row {
  const values: number[] = [];
  let cum = 0;
  for (let i = 0; i < LOG2_FIRST; i++) cum += slots[i] ?? 0;
  for (let k = 0; k < LOG2_BOUNDS_S.length; k++) {
    cum += slots[LOG2_FIRST + k] ?? 0;
    values.push(cum);
  }
  values.push(count, sumNs / 1e9, count);
  return { labels, values, histogram: true };
}

const LE = LOG2_BOUNDS_S.map(b => fmtLe(b));

/** A row's values as a Row of the same labels (a sample's value, a histogram's values). */
export const rowValues = (r: Row): number[] => ('histogram' in r ? r.values : [r.value]);

/** The samples a row is served as, with these values (a row's own by default). */
export function rowSamples(r: Row, labels: Labels = r.labels, values = rowValues(r)): Sample[] {
  if (!('histogram' in r)) return [{ labels, value: values[0], ...(r.suffix ? { suffix: r.suffix } : {}) }];
  const out: Sample[] = LE.map((le, k) => ({ labels: { ...labels, le }, value: values[k], suffix: '_bucket' as const }));
  const n = LE.length;
  out.push({ labels: { ...labels, le: '+Inf' }, value: values[n], suffix: '_bucket' });
  out.push({ labels, value: values[n + 1], suffix: '_sum' });
  out.push({ labels, value: values[n + 2], suffix: '_count' });
  return out;
}

/** Bucket bounds as Go's strconv formats them, so they read the same as other exporters'. */
function fmtLe(v: number): string {
  return String(Number(v.toPrecision(12)));
}

/** Adds b's slots into a (for summing threads into their process). */
export function addSlots(a: number[], b: number[]): number[] {
  const out = a.slice();
  b.forEach((n, i) => { out[i] = (out[i] ?? 0) + n; });
  return out;
}
