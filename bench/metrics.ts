// /metrics rendering of a large state, in-process (no kernel): what one scrape costs the event loop
// (prepare + prom-client's rendering run on it, start to end) with every target's series of its own
// (as before the fold: --metrics-top and --metrics-max-series past the state's size) and with the
// defaults (fold.ts), the two modes alternated, a few scrapes each round on the same state.
//   npx tsx bench/run.ts metrics          METRICS_TARGETS=1000 (default) METRICS_ROUNDS=5
import { Registry } from 'prom-client';
import type { ProcRecord } from '../src/collect/records.js';
import { DEFAULT_FOLD } from '../src/output/prometheus/limits.js';
import { procimageMetrics } from '../src/output/prometheus/metrics.js';
import { DEFAULT_METRICS, MetricsState } from '../src/output/prometheus/state.js';
import { fmt, median, table } from './lib.js';

const STATES = ['R', 'S', 'D', 'I'];
const SYSCALLS = ['read', 'write', 'openat', 'close', 'mmap', 'futex', 'clone3', 'wait4', 'exit_group', 'brk'];

/** `n` targets like a fork storm's (a few syscalls, intervals, wakers, delays, resource figures each). */
function bigState(n: number, folded: boolean): MetricsState {
  const opts = folded ? DEFAULT_METRICS : { ...DEFAULT_METRICS, top: 1e9, maxSeries: 1e12 };
  const m = new MetricsState({ ...opts, maxTargets: n + 1, maxItems: n * SYSCALLS.length }, Date.now, () => true);
  const kernel: ProcRecord[] = [];
  for (let i = 0; i < n; i++) {
    const pid = 1000 + i, base = { ts_ns: 1, pid, tgid: pid, comm: `stress-ng-${i % 7}`, cpu: 0 };
    m.write({ ...base, type: 'fork', child_pid: 0, child_tgid: 0, thread: false, child_start_ts_ns: 0 } as ProcRecord);
    m.write({ ...base, type: 'exec' } as ProcRecord);
    for (const [k, state] of STATES.entries()) {
      m.write({ ...base, type: 'offcpu', state, duration_ns: 1000 * (i + k), waker: { comm: `w${k}`, context: 'task' } } as unknown as ProcRecord);
    }
    m.write({ ...base, type: 'resource', scope: 'process', exited: false, total_user_ns: i, total_system_ns: i, total_read_bytes: 0,
      total_write_bytes: 0, total_io_read_bytes: i, total_io_write_bytes: i, total_minor_faults: i, total_major_faults: 0,
      total_voluntary_switches: i, total_involuntary_switches: i, rss_anon_bytes: i, rss_file_bytes: i, rss_shmem_bytes: 0,
      vm_bytes: i, swap_bytes: 0 } as unknown as ProcRecord);
    kernel.push({ ...base, type: 'sched', scope: 'thread', cpu: null, count: i + 1, total_ns: 1000 * i, max_ns: i,
      hist_log2_ns: Array.from({ length: 20 }, (_, s) => (s + i) % 3) } as unknown as ProcRecord);
    for (const [k, syscall] of SYSCALLS.entries()) {
      kernel.push({ ...base, type: 'syscall_stat', scope: 'thread', syscall, nr: k, count: i + k, errors: 0, total_ns: 100 * (i + k),
        hist_log2_ns: Array.from({ length: 16 }, (_, s) => (s + k) % 4) } as unknown as ProcRecord);
    }
  }
  m.refresh(kernel);
  return m;
}

/** One scrape as the exporter makes it: the fold, then prom-client's text. */
async function scrape(m: MetricsState, all: ReturnType<typeof procimageMetrics>, registry: Registry) {
  const t0 = performance.now();
  all.prepare();
  const t1 = performance.now();
  const body = await registry.metrics();
  const t2 = performance.now();
  return { prepareMs: t1 - t0, renderMs: t2 - t1, totalMs: t2 - t0, bytes: body.length, series: body.split('\n').filter(l => l && l[0] !== '#').length };
}

export async function metricsBench(): Promise<string> {
  const n = Number(process.env.METRICS_TARGETS ?? 1000), rounds = Number(process.env.METRICS_ROUNDS ?? 5);
  const source = { snapshot: () => [], active: true, categories: ['keytime'], programStats: () => [] };
  const modes = ([['every target its own series', false], [`folded (top ${DEFAULT_FOLD.top}, max ${DEFAULT_FOLD.maxSeries})`, true]] as const)
    .filter(([, folded]) => process.env.METRICS_MODES !== (folded ? 'own' : 'folded')); // METRICS_MODES=folded|own: one alone
  const setups = modes.map(([, folded]) => {
    const m = bigState(n, folded);
    const all = procimageMetrics(m, source, false);
    const registry = new Registry();
    for (const x of all.metrics) registry.registerMetric(x as never);
    return { m, all, registry };
  });
  const results = modes.map(() => [] as Array<Awaited<ReturnType<typeof scrape>>>);
  for (const s of setups) await scrape(s.m, s.all, s.registry); // the first scrape: the fold's state is made
  for (let r = 0; r < rounds; r++) {
    for (const [i, s] of setups.entries()) results[i].push(await scrape(s.m, s.all, s.registry));
  }
  const cell = (xs: number[]) => `${fmt(median(xs), 1)} (${fmt(Math.min(...xs), 1)}-${fmt(Math.max(...xs), 1)})`;
  const rows = modes.map(([name], i) => {
    const x = results[i];
    return [name, x[0].series, fmt(x[0].bytes / 1e6, 2), cell(x.map(y => y.prepareMs)), cell(x.map(y => y.renderMs)), cell(x.map(y => y.totalMs))];
  });
  const ratio = modes.length < 2 ? NaN : median(results[0].map(y => y.totalMs)) / median(results[1].map(y => y.totalMs));
  return [`### /metrics of ${n} targets (${SYSCALLS.length} syscalls, ${STATES.length} off-CPU states and wakers, delays and resource each): ` +
    `${rounds} scrapes per mode, alternated; ms median (min-max), the event loop held throughout`, '',
    table(['mode', 'series', 'MB', 'prepare (fold) ms', 'prom-client ms', 'scrape ms'], rows), '',
    `- folded: ${fmt(ratio, 1)}x less time per scrape than every target's own series`, ''].join('\n');
}
