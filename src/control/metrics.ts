// `--listen` for attach and trace: /metrics (its state, and run-time statistics when asked) and the page.
import { RunStats } from '../bpf/index.js';
import type { Session } from '../model/session.js';
import { HttpServer, isLoopback, parseListen } from '../output/http.js';
import { hostsFor, loadAssets, PageRoutes } from '../output/page/server.js';
import type { MetricsState } from '../output/prometheus/state.js';
import { LivePage } from './page.js';
import { note } from './outputs.js';

export interface MetricsFlags {
  listen?: string;
  metricsThreads?: boolean;
  metricsGrace?: number;
  metricsTop?: number;
  metricsMaxSeries?: number;
  bpfStats?: boolean;
}

export interface Metrics {
  state: MetricsState;
  /** The page of the run, served at / beside /metrics. */
  page: LivePage;
  close(): Promise<void>;
}

/** Starts serving /metrics if --listen was given; checks the address before anything is loaded. */
export function checkListen(f: MetricsFlags): void {
  if (f.listen !== undefined) parseListen(f.listen);
}

/**
 * --listen: /metrics for Prometheus and the page at /, on one server. Any address but loopback is
 * said to show what the page shows to whoever can reach it.
 */
export async function startMetrics(f: MetricsFlags, session: Session): Promise<Metrics | undefined> {
  if (f.listen === undefined) return undefined;
  const addr = parseListen(f.listen);
  // only with --listen: prom-client and the metrics' definitions take ~40 ms to load
  const [{ metricsHandler }, { DEFAULT_METRICS, MetricsState }] = await Promise.all([
    import('../output/prometheus/exporter.js'), import('../output/prometheus/state.js')]);
  const state = new MetricsState({
    ...DEFAULT_METRICS, perThread: !!f.metricsThreads, graceSec: f.metricsGrace ?? DEFAULT_METRICS.graceSec,
    top: f.metricsTop ?? DEFAULT_METRICS.top, maxSeries: f.metricsMaxSeries ?? DEFAULT_METRICS.maxSeries,
  });
  const stats = f.bpfStats ? RunStats.enable() : undefined;
  const page = new LivePage(session);
  let server: HttpServer;
  let routes: PageRoutes | undefined;
  try {
    const metrics = metricsHandler(state, session, !!stats);
    routes = new PageRoutes(() => page.current, loadAssets(), hostsFor(addr.host, addr.port));
    server = await HttpServer.listen(addr, (req, res) => {
      if (!metrics(req, res) && !routes!.handle(req, res)) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('procimage serves its page at / and metrics at /metrics\n');
      }
    });
    if (!isLoopback(addr.host)) warnExposed(addr.host);
  } catch (e) {
    routes?.close();
    stats?.close();
    throw e;
  }
  note(`serving the page on ${server.url}/ and metrics on ${server.url}/metrics`);
  return { state, page, close: async () => { routes!.close(); await server.close(); stats?.close(); } };
}

/** One line, for an address other machines may reach: what they will see there. */
export function warnExposed(host: string): void {
  note(`warning: serving on ${host}, not loopback: anyone who can reach it sees the page and /metrics, with the comm, ` +
    'command lines, paths and stacks of what is traced (bind 127.0.0.1, and reach it through ssh -L, to keep it to yourself)');
}
