// /metrics for Prometheus, from procimage's own registry (never prom-client's global one), read from
// the kernel at each scrape. Served by the --listen server (src/output/http.ts) beside the page.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { procimageMetrics, type MetricsSource } from './metrics.js';
import type { MetricsState } from './state.js';

export { parseListen, type ListenAddress } from '../http.js';

/** A handler for GET /metrics; false for any other request (someone else's to answer). */
export function metricsHandler(state: MetricsState, source: MetricsSource, bpfStats: boolean): (req: IncomingMessage, res: ServerResponse) => boolean {
  const registry = new Registry();
  for (const metric of procimageMetrics(state, source, bpfStats)) registry.registerMetric(metric as never);
  collectDefaultMetrics({ register: registry, prefix: 'procimage_' }); // the tool's own CPU and memory
  return (req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') return false;
    state.prune();
    try { state.refresh(source.snapshot()); } catch { /* the maps are gone (finishing): serve what is known */ }
    registry.metrics().then(
      body => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
    return true;
  };
}
