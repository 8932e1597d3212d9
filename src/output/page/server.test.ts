// The page's event stream and a client that never reads it: what is held for that client is capped,
// and the client is dropped once it has not read for STREAM_STALL_MS. (test/http.test.ts tries the
// same against the real server; this checks the cap itself, whatever the kernel's socket buffers.)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PageModel } from './model.js';
import { PageRoutes, STREAM_MAX_UNSENT } from './server.js';

/** A response whose client never reads: everything written stays unsent. */
function stuckResponse() {
  const res = {
    writableLength: 0, destroyed: false, writes: 0,
    writeHead() { return res; },
    write(s: string) { res.writableLength += Buffer.byteLength(s); res.writes++; return false; },
    end() {}, on() { return res; },
    destroy() { res.destroyed = true; },
  };
  return res;
}

/** A live model that moves at every look (the busiest stream there is). */
function movingModel(): PageModel {
  let v = 0;
  return {
    get version() { return ++v; },
    meta: () => ({ version: v, now: v * 1e6, ended: false, live: true }),
  } as unknown as PageModel;
}

afterEach(() => { vi.useRealTimers(); });

describe('the event stream of a client that never reads', () => {
  it('holds at most the cap (and one event) for it, then closes it', () => {
    vi.useFakeTimers();
    const routes = new PageRoutes(movingModel, { html: '', js: '', css: '' }, undefined);
    const res = stuckResponse();
    routes.handle({ url: '/api/events', method: 'GET', headers: {} } as IncomingMessage, res as unknown as ServerResponse);
    let most = 0;
    for (let t = 0; t < 20 * 60_000 && !res.destroyed; t += 400) { // events are small: minutes to reach the cap
      vi.advanceTimersByTime(400);
      most = Math.max(most, res.writableLength);
    }
    expect(res.writes).toBeGreaterThan(10); // it was written to until the cap
    expect(most).toBeGreaterThan(STREAM_MAX_UNSENT);
    expect(most).toBeLessThan(STREAM_MAX_UNSENT + 1024);
    expect(res.destroyed).toBe(true);
    routes.close();
  });

  it('a client that reads again is written to again', () => {
    vi.useFakeTimers();
    const routes = new PageRoutes(movingModel, { html: '', js: '', css: '' }, undefined);
    const res = stuckResponse();
    routes.handle({ url: '/api/events', method: 'GET', headers: {} } as IncomingMessage, res as unknown as ServerResponse);
    while (res.writableLength <= STREAM_MAX_UNSENT) vi.advanceTimersByTime(400); // up to the cap
    const held = res.writes;
    vi.advanceTimersByTime(2000);
    expect(res.writes).toBe(held); // capped: nothing more written
    res.writableLength = 0; // it read everything
    vi.advanceTimersByTime(800);
    expect(res.writes).toBeGreaterThan(held);
    expect(res.destroyed).toBe(false);
    routes.close();
  });
});
