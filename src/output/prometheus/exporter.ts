// /metrics for Prometheus, from procimage's own registry (never prom-client's global one), read from
// the kernel at each scrape. Served by the --listen server (src/output/http.ts) beside the page.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { procimageMetrics, type MetricsSource } from './metrics.js';
import type { MetricsState } from './state.js';

export { parseListen, type ListenAddress } from '../http.js';

/**
 * Every scrape reads the kernel afresh, but one at a time, taken in turn from each connection (round
 * robin), one per turn of the event loop, and dropped when its client has gone: clients that pipeline
 * thousands of scrapes delay a normal one by at most one rendering per connection (it had waited
 * behind all of theirs: 20,000 renderings, 50 s), and a slow page scraped each second with a 1 s
 * timeout is rendered once at a time for whoever still waits, not once per scrape in parallel. (A
 * fork storm made the page 100,000 series, 12 MB, 8-18 s on a starved CPU, before the fold bounded
 * it: fold.ts, bench/load.ts.)
 */
class ScrapeQueue {
  private readonly waiting = new Map<Socket, ServerResponse[]>();
  private busy = false;

  constructor(private readonly render: () => Promise<{ type: string; body: string }>) {}

  /** req's socket, not res's: a pipelined request's response has none until its turn. */
  add(req: IncomingMessage, res: ServerResponse): void {
    const sock = req.socket;
    const q = this.waiting.get(sock);
    if (q) q.push(res);
    else this.waiting.set(sock, [res]);
    this.pump();
  }

  private next(): ServerResponse | undefined {
    for (const [sock, q] of this.waiting) {
      // re-inserted at the end: the next turn is another connection's
      this.waiting.delete(sock);
      const res = q.shift()!;
      if (q.length) this.waiting.set(sock, q);
      if (!res.destroyed && !sock.destroyed) return res;
    }
    return undefined;
  }

  private pump(): void {
    if (this.busy) return;
    const res = this.next();
    if (!res) return;
    this.busy = true;
    this.render().then(
      ({ type, body }) => res.writeHead(200, { 'content-type': type }).end(body),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    ).catch(() => res.destroy()) // its client went away meanwhile: nothing to answer, nothing to crash
      .finally(() => {
        this.busy = false;
        setImmediate(() => this.pump()); // what else is due runs first
      });
  }
}

/** A handler for GET /metrics; false for any other request (someone else's to answer). */
export function metricsHandler(state: MetricsState, source: MetricsSource, bpfStats: boolean): (req: IncomingMessage, res: ServerResponse) => boolean {
  const registry = new Registry();
  const metrics = procimageMetrics(state, source, bpfStats);
  for (const metric of metrics.metrics) registry.registerMetric(metric as never);
  collectDefaultMetrics({ register: registry, prefix: 'procimage_' }); // the tool's own CPU and memory
  const queue = new ScrapeQueue(async () => {
    const t0 = performance.now();
    state.prune();
    try { state.refresh(source.snapshot()); } catch { /* the maps are gone (finishing): serve what is known */ }
    const t1 = performance.now();
    metrics.prepare(); // which targets have series of their own, what "(other)" adds up (fold.ts)
    const t2 = performance.now();
    Object.assign(metrics.timings, { read: (t1 - t0) / 1e3, fold: (t2 - t1) / 1e3 });
    const body = await registry.metrics();
    metrics.timings.render = (performance.now() - t2) / 1e3;
    return { type: registry.contentType, body };
  });
  return (req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') return false;
    queue.add(req, res);
    return true;
  };
}
