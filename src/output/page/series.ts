// Figures over time for the page: resources per process (or thread, with -p and -c) beside the whole
// system's, and scheduling delay per interval. Each `--interval` adds one point to a series; a series
// is halved (two points averaged into one) when it outgrows MAX_POINTS, so that an hour-long run
// stays a few thousand points, as wide as a chart can show.
import type { ResourceRecord, ResourceSystemRecord, SchedRecord } from '../../collect/records.js';
import { quantileBound } from '../format.js';

const MAX_POINTS = 4096;
/** Processes with series of their own; more are not charted (the every-process mode's top N change). */
const MAX_SERIES = 2000;

export const RESOURCE_FIELDS = ['cpu_user', 'cpu_system', 'rss_anon', 'rss_file', 'rss_shmem', 'io_read', 'io_write', 'disk_read', 'disk_write',
  'minor_faults', 'major_faults', 'voluntary', 'involuntary'] as const;
export type ResourceField = (typeof RESOURCE_FIELDS)[number];

/** Columns of one series: t (ns since the start) and one array a field. */
export type Series = { t: number[] } & Record<string, Array<number | null>>;

function push(s: Series, t: number, v: Record<string, number | null>): void {
  s.t.push(t);
  for (const [k, x] of Object.entries(v)) (s[k] ??= []).push(x);
  if (s.t.length > MAX_POINTS) halve(s);
}

/** Two points into one: their mean (a rate's average over both intervals; a level's too). */
function halve(s: Series): void {
  for (const k of Object.keys(s)) {
    const a = s[k] as Array<number | null>, out: Array<number | null> = [];
    for (let i = 0; i < a.length; i += 2) {
      const x = a[i], y = i + 1 < a.length ? a[i + 1] : x;
      out.push(k === 't' ? (y as number) : x === null || y === null ? (x ?? y) : (x + y) / 2);
    }
    s[k] = out as number[];
  }
}

export class ResourceSeries {
  /** By "p<tgid>", "t<tid>", or "system". */
  readonly series = new Map<string, Series>();

  private get(key: string): Series | undefined {
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= MAX_SERIES) return undefined;
      this.series.set(key, s = { t: [] });
    }
    return s;
  }

  observe(r: ResourceRecord | ResourceSystemRecord): void {
    const sec = r.interval_ns / 1e9;
    const rate = (n: number) => (sec > 0 ? n / sec : null);
    if (r.scope === 'system') {
      const s = this.get('system');
      if (s) {
        push(s, r.ts_ns, {
          cpu_user: r.user_pct, cpu_system: r.system_pct, cpu_iowait: r.iowait_pct, cpu_steal: r.steal_pct, cpus: r.cpus,
          mem_used: r.mem_used_bytes, mem_anon: r.mem_anon_bytes, mem_file: r.mem_file_bytes, mem_shmem: r.mem_shmem_bytes,
          disk_read: rate(r.read_bytes), disk_write: rate(r.write_bytes), minor_faults: rate(r.minor_faults), major_faults: rate(r.major_faults),
          switches: rate(r.context_switches),
        });
      }
      return;
    }
    const s = this.get(r.scope === 'process' ? `p${r.tgid}` : `t${r.pid}`);
    if (!s) return;
    push(s, r.ts_ns, {
      cpu_user: r.user_pct, cpu_system: r.system_pct, rss_anon: r.rss_anon_bytes, rss_file: r.rss_file_bytes, rss_shmem: r.rss_shmem_bytes,
      io_read: rate(r.io_read_bytes), io_write: rate(r.io_write_bytes), disk_read: rate(r.read_bytes), disk_write: rate(r.write_bytes),
      minor_faults: rate(r.minor_faults), major_faults: rate(r.major_faults), voluntary: rate(r.voluntary_switches),
      involuntary: rate(r.involuntary_switches),
    });
  }

  toJSON(): Record<string, Series> {
    return Object.fromEntries(this.series);
  }

  static fromJSON(d: Record<string, Series>): ResourceSeries {
    const r = new ResourceSeries();
    for (const [k, s] of Object.entries(d)) r.series.set(k, s);
    return r;
  }
}

/** Upper bound (ns) of the log2 slot holding quantile q: all a log2 histogram can tell. */
export const histQuantile = quantileBound;

const addHist = (into: number[], h: readonly number[], sign = 1) => {
  for (let i = 0; i < h.length; i++) into[i] = (into[i] ?? 0) + sign * h[i];
};

interface Cumulative { tgid: number; count: number; total: number; max: number | null; hist: number[] }

/**
 * Scheduling delay: the records are each thread's totals since activation, all of one poll at one
 * ts. Kept: each thread's latest (the histograms, for any selection), and per poll, for all the
 * targets and per process, the delays of that interval: count, average, p99 (the log2 bound).
 */
export class SchedSeries {
  readonly latest = new Map<number, Cumulative>(); // by tid (the idle task of CPU c: -1 - c)
  system: Cumulative | undefined;
  /** "all", "p<tgid>", "system" -> t, count, avg_ns, p99_ns. */
  readonly series = new Map<string, Series>();
  private round: { ts: number; delta: Map<string, { count: number; total: number; hist: number[] }> } | undefined;

  observe(r: SchedRecord): void {
    if (this.round && this.round.ts !== r.ts_ns) this.endRound();
    this.round ??= { ts: r.ts_ns, delta: new Map() };
    const cur: Cumulative = { tgid: r.tgid, count: r.count, total: r.total_ns, max: r.max_ns, hist: r.hist_log2_ns };
    let prev: Cumulative | undefined;
    if (r.scope === 'system') {
      prev = this.system;
      this.system = cur;
    } else {
      const key = r.cpu !== null && r.pid === 0 ? -1 - r.cpu : r.pid;
      prev = this.latest.get(key);
      if (this.latest.size < 100_000 || prev) this.latest.set(key, cur);
    }
    const d = { count: r.count - (prev?.count ?? 0), total: r.total_ns - (prev?.total ?? 0), hist: [...r.hist_log2_ns] };
    if (prev) addHist(d.hist, prev.hist, -1);
    for (const key of r.scope === 'system' ? ['system'] : ['all', `p${r.tgid}`]) {
      const s = this.round.delta.get(key) ?? { count: 0, total: 0, hist: [] };
      s.count += d.count;
      s.total += d.total;
      addHist(s.hist, d.hist);
      this.round.delta.set(key, s);
    }
  }

  /** A poll's records are all in: one point per series. */
  endRound(): void {
    const round = this.round;
    this.round = undefined;
    if (!round) return;
    for (const [key, d] of round.delta) {
      let s = this.series.get(key);
      if (!s) {
        if (this.series.size >= MAX_SERIES) continue;
        this.series.set(key, s = { t: [] });
      }
      push(s, round.ts, { count: d.count, avg_ns: d.count ? d.total / d.count : null, p99_ns: histQuantile(d.hist, 0.99) });
    }
  }

  /** The delays of these threads (all targets if none) since activation, in one histogram. */
  histogram(tids?: Iterable<number>): { count: number; total: number; max: number | null; hist: number[] } {
    const out = { count: 0, total: 0, max: null as number | null, hist: [] as number[] };
    const add = (c: Cumulative | undefined) => {
      if (!c) return;
      out.count += c.count;
      out.total += c.total;
      if (c.max !== null && (out.max === null || c.max > out.max)) out.max = c.max;
      addHist(out.hist, c.hist);
    };
    if (tids) for (const t of tids) add(this.latest.get(t));
    else for (const c of this.latest.values()) add(c);
    return out;
  }

  toJSON(): { latest: Array<[number, Cumulative]>; system: Cumulative | null; series: Record<string, Series> } {
    this.endRound();
    return { latest: [...this.latest], system: this.system ?? null, series: Object.fromEntries(this.series) };
  }

  static fromJSON(d: ReturnType<SchedSeries['toJSON']>): SchedSeries {
    const s = new SchedSeries();
    for (const [k, v] of d.latest) s.latest.set(k, v);
    s.system = d.system ?? undefined;
    for (const [k, v] of Object.entries(d.series)) s.series.set(k, v);
    return s;
  }
}
