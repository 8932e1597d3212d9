// The HTTP server behind --listen (metrics, the page) and report --listen (the page): one place for
// where it listens and what a failure to listen says. 127.0.0.1 unless told otherwise; any other
// address is said to serve command lines and stacks to whoever can reach it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
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

/** Loopback addresses: only this machine can reach them (an IPv4-mapped 127.x too). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(?:::ffff:)?127\./i.test(host);
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

// The server runs inside the collector: no client may stop it, hold its memory or its descriptors.
/** A request's headers must have come within this (a client sending a byte a second is dropped). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** ... and the whole request within this. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** How often Node checks the two above (its default, 30 s, would let a slow client stay 40 s). */
const CHECK_INTERVAL_MS = 1000;
/** Connections at once; past it new ones are closed at once (each holds a descriptor the collector needs). */
export const MAX_CONNECTIONS = 4096;
/**
 * Bytes of answers not yet taken by their clients, over all connections. Node stops reading a
 * connection's next request while its answer is unsent, so each holds at most about one answer; past
 * this budget a new request is told to come back (503) instead of adding to it.
 */
export const MAX_UNSENT = 64 << 20;

export class HttpServer {
  private constructor(readonly server: Server, readonly address: ListenAddress) {}

  /** Listens on addr (port 0: one the kernel picks; address says which). */
  static async listen(addr: ListenAddress, handle: Handler): Promise<HttpServer> {
    const sockets = new Set<Socket>();
    const unsent = () => {
      let n = 0;
      for (const s of sockets) n += s.writableLength;
      return n;
    };
    const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: CHECK_INTERVAL_MS }, (req, res) => {
      if (unsent() > MAX_UNSENT) {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('procimage: busy: clients have not taken their answers yet\n');
        return;
      }
      try {
        handle(req, res);
      } catch (e) {
        // a request no handler foresaw answers 500; the collector goes on
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(`procimage: ${(e as Error).message}\n`);
        else res.destroy();
      }
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    // a malformed request, too-large headers, a timeout: Node's own clientError answers 400/431/408
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
