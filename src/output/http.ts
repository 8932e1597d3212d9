// The HTTP server behind --listen (metrics, the page) and report --listen (the page): one place for
// where it listens and what a failure to listen says. 127.0.0.1 unless told otherwise; any other
// address is said to serve command lines and stacks to whoever can reach it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { UserError } from '../sys/errors.js';
import { shown } from '../sys/printable.js';

export interface ListenAddress { host: string; port: number }

/** "HOST:PORT", "[::1]:PORT" or "PORT" (loopback); a clear error for anything else. */
export function parseListen(s: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(s) ?? /^()()(\d+)$/.exec(s);
  if (!m) throw new UserError(`--listen takes HOST:PORT or PORT, got '${shown(s)}'`);
  const host = m[1] || m[2] || '127.0.0.1', port = Number(m[3]);
  if (host !== 'localhost' && !isIP(host)) throw new UserError(`--listen: '${shown(host)}' is not an IP address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`--listen: port must be 1-65535, got ${shown(m[3])}`);
  return { host, port };
}

/** Loopback addresses: only this machine can reach them. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class HttpServer {
  private constructor(readonly server: Server, readonly address: ListenAddress) {}

  /** Listens on addr (port 0: one the kernel picks; address says which). */
  static async listen(addr: ListenAddress, handle: Handler): Promise<HttpServer> {
    const server = createServer(handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new UserError(e.code === 'EADDRINUSE'
        ? `--listen: ${addr.host}:${addr.port} is already in use`
        : e.code === 'EADDRNOTAVAIL' ? `--listen: ${addr.host} is not an address of this machine` : `--listen: ${e.message}`)));
      server.listen(addr.port, addr.host, () => resolve());
    });
    const bound = server.address();
    return new HttpServer(server, { host: addr.host, port: typeof bound === 'object' && bound ? bound.port : addr.port });
  }

  /** "http://127.0.0.1:8080" */
  get url(): string {
    const h = this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host;
    return `http://${h}:${this.address.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise(r => this.server.close(() => r()));
  }
}
