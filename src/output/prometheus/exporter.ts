// `--listen HOST:PORT`: /metrics for Prometheus, from procimage's own registry (never prom-client's
// global one), read from the kernel at each scrape. 127.0.0.1 unless told otherwise.
import { createServer, type Server } from 'node:http';
import { isIP } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { UserError } from '../../sys/errors.js';
import { procimageMetrics, type MetricsSource } from './metrics.js';
import type { MetricsState } from './state.js';

export interface ListenAddress { host: string; port: number }

/** "HOST:PORT", "[::1]:PORT" or "PORT" (loopback); a clear error for anything else. */
export function parseListen(s: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(s) ?? /^()()(\d+)$/.exec(s);
  if (!m) throw new UserError(`--listen takes HOST:PORT or PORT, got '${s}'`);
  const host = m[1] || m[2] || '127.0.0.1', port = Number(m[3]);
  if (host !== 'localhost' && !isIP(host)) throw new UserError(`--listen: '${host}' is not an IP address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`--listen: port must be 1-65535, got ${m[3]}`);
  return { host, port };
}

export class Exporter {
  private constructor(private readonly server: Server, readonly address: ListenAddress) {}

  static async listen(addr: ListenAddress, state: MetricsState, source: MetricsSource, bpfStats: boolean): Promise<Exporter> {
    const registry = new Registry();
    for (const metric of procimageMetrics(state, source, bpfStats)) registry.registerMetric(metric as never);
    collectDefaultMetrics({ register: registry, prefix: 'procimage_' }); // the tool's own CPU and memory
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('procimage serves /metrics\n');
        return;
      }
      state.prune();
      try { state.refresh(source.snapshot()); } catch { /* the maps are gone (finishing): serve what is known */ }
      registry.metrics().then(
        body => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new UserError(e.code === 'EADDRINUSE'
        ? `--listen: ${addr.host}:${addr.port} is already in use`
        : e.code === 'EADDRNOTAVAIL' ? `--listen: ${addr.host} is not an address of this machine` : `--listen: ${e.message}`)));
      server.listen(addr.port, addr.host, () => resolve());
    });
    return new Exporter(server, addr);
  }

  close(): Promise<void> {
    return new Promise(r => this.server.close(() => r()));
  }
}
