// `--listen` for attach and trace: the exporter, its state, and run-time statistics when asked.
import { RunStats } from '../bpf/index.js';
import type { Session } from '../model/session.js';
import { Exporter, parseListen } from '../output/prometheus/exporter.js';
import { DEFAULT_METRICS, MetricsState } from '../output/prometheus/state.js';
import { note } from './outputs.js';

export interface MetricsFlags {
  listen?: string;
  metricsThreads?: boolean;
  metricsGrace?: number;
  bpfStats?: boolean;
}

export interface Metrics { state: MetricsState; close(): Promise<void> }

/** Starts serving /metrics if --listen was given; checks the address before anything is loaded. */
export function checkListen(f: MetricsFlags): void {
  if (f.listen !== undefined) parseListen(f.listen);
}

export async function startMetrics(f: MetricsFlags, session: Session): Promise<Metrics | undefined> {
  if (f.listen === undefined) return undefined;
  const state = new MetricsState({ ...DEFAULT_METRICS, perThread: !!f.metricsThreads, graceSec: f.metricsGrace ?? DEFAULT_METRICS.graceSec });
  const stats = f.bpfStats ? RunStats.enable() : undefined;
  let exporter: Exporter;
  try {
    exporter = await Exporter.listen(parseListen(f.listen), state, session, !!stats);
  } catch (e) {
    stats?.close();
    throw e;
  }
  note(`serving metrics on http://${exporter.address.host.includes(':') ? `[${exporter.address.host}]` : exporter.address.host}:${exporter.address.port}/metrics`);
  return { state, close: async () => { await exporter.close(); stats?.close(); } };
}
