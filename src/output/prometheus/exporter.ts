// /metrics for Prometheus, from procimage's own registry (never prom-client's global one), read from
// the kernel at each scrape. Served by the --listen server (src/output/http.ts) beside the page.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { procimageMetrics, type MetricsSource } from './metrics.js';
import type { MetricsState } from './state.js';

export { parseListen, type ListenAddress } from '../http.js';

/**
 * One reading of the kernel's maps and one rendering at a time, shared by every scrape that comes
 * meanwhile, and for REUSE_MS after it (and for as long as it took, so that rendering takes at most
 * half of the collector's event loop): clients that pipeline thousands of scrapes, or a page of
 * 100,000 series (every thread of a fork storm: 12 MB, 8-10 s to render on a starved CPU, bench/load.ts)
 * scraped every second, cannot take the event loop from collection, nor pile up renderings in memory.
 * A page of a few thousand series renders in 2-3 ms: Prometheus, every second or less often, always
 * gets a fresh one then.
 */
const REUSE_MS = 100;

/** A handler for GET /metrics; false for any other request (someone else's to answer). */
export function metricsHandler(state: MetricsState, source: MetricsSource, bpfStats: boolean): (req: IncomingMessage, res: ServerResponse) => boolean {
  const registry = new Registry();
  for (const metric of procimageMetrics(state, source, bpfStats)) registry.registerMetric(metric as never);
  collectDefaultMetrics({ register: registry, prefix: 'procimage_' }); // the tool's own CPU and memory
  let last: { started: number; finished?: number; body: Promise<string> } | undefined;
  return (req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') return false;
    const now = performance.now();
    if (!last || (last.finished !== undefined && now - last.finished >= Math.max(REUSE_MS, last.finished - last.started))) {
      state.prune();
      try { state.refresh(source.snapshot()); } catch { /* the maps are gone (finishing): serve what is known */ }
      const body = registry.metrics();
      const current = last = { started: now, body } as NonNullable<typeof last>;
      body.then(() => { current.finished = performance.now(); }, () => { if (last === current) last = undefined; });
    }
    last.body.then(
      body => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
    return true;
  };
}
