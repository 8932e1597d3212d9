// The page over HTTP: the page itself at /, its data under /api/ (the model's queries, as JSON), and
// /api/events, a Server-Sent Events stream that says when the model has moved (live: records came;
// attach: a new activation). Read-only: GET alone, nothing that changes collection (that is ctl's).
//
// The page shows command lines, paths and stacks. Beside binding loopback by default, the server
// answers only requests whose Host is the address it listens on (a web page elsewhere cannot make a
// browser read it through a DNS name rebound to 127.0.0.1), sends a Content-Security-Policy that
// allows no script but its own, and the page writes every string a target controls as text.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { paths } from '../../sys/paths.js';
import { UserError } from '../../sys/errors.js';
import { servedHtml } from './html.js';
import type { PageModel } from './model.js';

export interface PageAssets { html: string; js: string; css: string }

/** The built page (make: tools/build-web.ts), read once. */
export function loadAssets(): PageAssets {
  const read = (f: string) => {
    try {
      return readFileSync(join(paths.web, f), 'utf8');
    } catch {
      throw new UserError(`the page is not built (${join(paths.web, f)}): run make`);
    }
  };
  return { html: servedHtml(), js: read('page.js'), css: read('page.css') };
}

const SECURITY = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** How often the event stream looks for changes, and says it is alive when there were none. */
const EVENT_MS = 400;
const HEARTBEAT_MS = 15_000;
/**
 * A stream's client that does not take its events (a paused tab, a script that never reads): while
 * more than this is unsent nothing more is written (each event says only "the model moved": the next
 * one after it catches up says as much); one stalled this long is closed (EventSource reconnects).
 */
export const STREAM_MAX_UNSENT = 16 << 10;
export const STREAM_STALL_MS = 60_000;

const ids = (s: string | null): number[] | undefined => {
  if (s === null || s === '') return undefined;
  const a = s.split(',').map(Number);
  return a.every(Number.isInteger) ? a : undefined;
};
const num = (s: string | null): number | undefined => (s === null || s === '' || !Number.isFinite(Number(s)) ? undefined : Number(s));

export class PageRoutes {
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * model: the model to serve now (undefined: nothing collected yet). allowedHosts: the Host headers
   * accepted (undefined: any, when bound to every address on purpose).
   */
  constructor(private readonly model: () => PageModel | undefined, private readonly assets: PageAssets,
    private readonly allowedHosts: Set<string> | undefined) {}

  /** Answers the page's requests; false for any other (someone else's: /metrics). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain', ...SECURITY }).end('procimage: not a URL\n');
      return true;
    }
    const path = url.pathname;
    if (path !== '/' && path !== '/index.html' && path !== '/page.js' && path !== '/page.css' && !path.startsWith('/api/')) return false;
    if (this.allowedHosts && !this.allowedHosts.has((req.headers.host ?? '').toLowerCase())) {
      res.writeHead(403, { 'content-type': 'text/plain', ...SECURITY }).end('procimage: this Host is not the address the page is served on\n');
      return true;
    }
    if (req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET', ...SECURITY }).end('the page is read-only\n');
      return true;
    }
    switch (path) {
      case '/': case '/index.html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP, ...SECURITY }).end(this.assets.html);
        return true;
      case '/page.js':
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...SECURITY }).end(this.assets.js);
        return true;
      case '/page.css':
        res.writeHead(200, { 'content-type': 'text/css; charset=utf-8', ...SECURITY }).end(this.assets.css);
        return true;
      case '/api/events':
        this.stream(res);
        return true;
    }
    const m = this.model();
    if (!m) {
      json(res, 404, { error: 'nothing collected yet: activate with procimage ctl -a' });
      return true;
    }
    const q = url.searchParams;
    try {
      switch (path) {
        case '/api/meta': return json(res, 200, m.meta());
        case '/api/processes': return json(res, 200, m.processes());
        case '/api/timeline': {
          const from = num(q.get('from')), to = num(q.get('to')), px = num(q.get('px'));
          if (from === undefined || to === undefined || px === undefined || px < 1 || px > 10_000) return json(res, 400, { error: 'from, to and px (1-10000) are needed' });
          return json(res, 200, m.timelineView({ from, to, px, tids: ids(q.get('tids')), wakes: q.get('wakes') === 'true' }));
        }
        case '/api/interval': {
          const tid = num(q.get('tid')), id = num(q.get('id'));
          const d = tid !== undefined && id !== undefined ? m.interval(tid, id) : undefined;
          return d ? json(res, 200, d) : json(res, 404, { error: 'no such interval (or its detail is no longer kept)' });
        }
        case '/api/flame': {
          const kind = q.get('kind') === 'lock' ? 'lock' : 'offcpu';
          return json(res, 200, m.flame({ tids: ids(q.get('tids')), states: q.get('states')?.split(',').filter(Boolean), kind }));
        }
        case '/api/resources': return json(res, 200, m.resourceSeries(q.get('key') ?? undefined));
        case '/api/sched': return json(res, 200, m.schedView({ tgid: num(q.get('tgid')), tids: ids(q.get('tids')) }));
        case '/api/syscalls': return json(res, 200, m.syscallView({ tids: ids(q.get('tids')) }));
        case '/api/locks': return json(res, 200, m.lockView({ tids: ids(q.get('tids')) }));
        default: return json(res, 404, { error: `no ${path}` });
      }
    } catch (e) {
      return json(res, 500, { error: (e as Error).message });
    }
  }

  /** Server-Sent Events: `update` with the model's version and time whenever it has moved. */
  private stream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive', ...SECURITY });
    res.write('retry: 2000\n\n');
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
    this.timer ??= setInterval(() => this.tick(), EVENT_MS).unref();
    this.send(res, this.model());
  }

  private lastSent = new WeakMap<ServerResponse, { model: PageModel | undefined; version: number; at: number }>();

  private send(res: ServerResponse, m: PageModel | undefined): void {
    const meta = m?.meta();
    const prev = this.lastSent.get(res);
    const event = prev && prev.model !== m ? 'reset' : 'update';
    res.write(`event: ${event}\ndata: ${JSON.stringify(meta ? { version: meta.version, now: meta.now, ended: meta.ended } : null)}\n\n`);
    this.lastSent.set(res, { model: m, version: meta?.version ?? -1, at: Date.now() });
  }

  /** Since when each stream's client has not taken what was written to it. */
  private stalled = new WeakMap<ServerResponse, number>();

  /** Whether res may be written to now; closes it when its client has not read for too long. */
  private writable(res: ServerResponse, now: number): boolean {
    if (res.writableLength <= STREAM_MAX_UNSENT) {
      this.stalled.delete(res);
      return true;
    }
    const since = this.stalled.get(res);
    if (since === undefined) this.stalled.set(res, now);
    else if (now - since > STREAM_STALL_MS) res.destroy();
    return false;
  }

  private tick(): void {
    const m = this.model();
    const now = Date.now();
    for (const res of this.streams) {
      if (!this.writable(res, now)) continue;
      const prev = this.lastSent.get(res);
      const moved = !prev || prev.model !== m || (m && (m.version !== prev.version || m.meta().live && !m.meta().ended));
      if (moved) this.send(res, m);
      else if (Date.now() - prev.at > HEARTBEAT_MS) res.write(': alive\n\n');
    }
    if (this.streams.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const res of this.streams) res.end();
    this.streams.clear();
  }
}

function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...SECURITY }).end(JSON.stringify(body));
  return true;
}

/** Host headers a browser sends for an address (with its port): the address, and localhost's names on loopback. */
export function hostsFor(host: string, port: number): Set<string> | undefined {
  if (host === '0.0.0.0' || host === '::') return undefined; // every address, on purpose: any name may reach it
  const names = new Set([host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`]);
  if (host === 'localhost' || host === '::1' || host.startsWith('127.')) {
    for (const n of ['localhost', '127.0.0.1', '[::1]']) names.add(`${n}:${port}`);
  }
  return new Set([...names].map(n => n.toLowerCase()));
}
