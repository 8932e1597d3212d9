// /metrics for Prometheus, from procimage's own registry (never prom-client's global one), read from
// the kernel at each scrape. Served by the --listen server (src/output/http.ts) beside the page.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { procimageMetrics, type MetricsSource } from './metrics.js';
import type { MetricsState } from './state.js';

export { parseListen, type ListenAddress } from '../http.js';

/**
 * Scrapes this close together share one reading of the kernel's maps and one rendering (2-3 ms,
 * ~16 KB): clients that pipeline thousands of scrapes cannot take the collector's event loop from
 * everything else. Prometheus scrapes every second or less often: it never sees a shared one.
 */
const REUSE_MS = 100;

/** A handler for GET /metrics; false for any other request (someone else's to answer). */
export function metricsHandler(state: MetricsState, source: MetricsSource, bpfStats: boolean): (req: IncomingMessage, res: ServerResponse) => boolean {
  const registry = new Registry();
  for (const metric of procimageMetrics(state, source, bpfStats)) registry.registerMetric(metric as never);
  collectDefaultMetrics({ register: registry, prefix: 'procimage_' }); // the tool's own CPU and memory
  let last: { at: number; body: Promise<string> } | undefined;
  return (req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') return false;
    const now = performance.now();
    if (!last || now - last.at >= REUSE_MS) {
      state.prune();
      try { state.refresh(source.snapshot()); } catch { /* the maps are gone (finishing): serve what is known */ }
      const body = registry.metrics();
      last = { at: now, body };
      body.catch(() => { if (last?.body === body) last = undefined; });
    }
    last.body.then(
      body => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
    return true;
  };
}
