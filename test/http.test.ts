// The --listen server under hostile clients: bad paths and methods, huge headers, 1,000 connections
// at once, a client that sends a byte a second, clients that never read what they asked for (the
// event stream, /metrics pipelined). Meanwhile a normal request is answered, the process lives, and
// its memory stays bounded (RSS before and after, with a generous bound). Against a real
// `trace --listen` (metrics and the page on one server).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, waitFor } from './helpers.js';

let proc: ChildProcess;
let port: number;
let stderr = '';

const freePort = () => new Promise<number>(resolve => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
});
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))![1]);

beforeAll(async () => {
  port = await freePort();
  // -k 0 on a sleeping command: the server is what is exercised, not collection
  proc = spawn(CLI, ['trace', '--listen', `127.0.0.1:${port}`, '-k', '0', '--', 'sleep', '600'],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true }); // its own process group: Ctrl-C reaches the command too
  proc.stderr!.on('data', d => { stderr += d; });
  await waitFor(() => stderr.includes('serving the page') || proc.exitCode !== null, 'the server', 30_000);
  expect(proc.exitCode, stderr).toBeNull();
}, 60_000);
afterAll(async () => {
  process.kill(-proc.pid!, 'SIGINT'); // as Ctrl-C: trace and its command
  const exited = new Promise(r => { if (proc.exitCode !== null || proc.signalCode !== null) r(undefined); else proc.once('exit', r); });
  await Promise.race([exited, new Promise(r => setTimeout(r, 20_000))]);
  if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid!, 'SIGKILL');
});

/** Sends raw bytes; resolves with all that came back once the server closed or `ms` passed. */
function raw(bytes: string | Buffer, ms = 5000): Promise<string> {
  return new Promise(resolve => {
    let got = '';
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    const done = () => { clearTimeout(t); s.destroy(); resolve(got); };
    const t = setTimeout(done, ms);
    s.on('data', d => { got += d.toString('latin1'); });
    s.on('end', done);
    s.on('error', done);
  });
}

/** A normal request, as Prometheus or a browser makes it: its status. */
async function normal(path = '/metrics'): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(20_000) });
  await res.arrayBuffer();
  return res.status;
}

/** The server still answers and the process still runs. */
async function expectAlive(): Promise<void> {
  expect(proc.exitCode, stderr).toBeNull();
  expect(await normal('/metrics')).toBe(200);
  expect(await normal('/api/meta')).toBe(200);
}

const opened: Socket[] = [];
const open = (n: number) => Promise.all(Array.from({ length: n }, () => new Promise<Socket>(resolve => {
  const s = connect(port, '127.0.0.1', () => resolve(s));
  s.on('error', () => resolve(s));
  opened.push(s);
})));
const closeAll = () => { for (const s of opened.splice(0)) s.destroy(); };

describe('the --listen server under hostile clients', () => {
  it('bad methods, paths and request lines: an answer (or a closed connection), never a crash', async () => {
    const lines = [
      'POST /metrics HTTP/1.1', 'PUT / HTTP/1.1', 'DELETE /api/meta HTTP/1.1', 'OPTIONS * HTTP/1.1', 'TRACE / HTTP/1.1',
      'CONNECT 127.0.0.1:22 HTTP/1.1', 'BREW /pot HTTP/1.1', 'get / HTTP/1.1', 'HEAD /metrics HTTP/1.1', 'PATCH /api/events HTTP/1.1',
      'GET http://[ HTTP/1.1', 'GET http://a b/ HTTP/1.1', 'GET //x/../../etc/passwd HTTP/1.1', 'GET /../../../../etc/passwd HTTP/1.1',
      'GET /%00 HTTP/1.1', 'GET /%ZZ HTTP/1.1', 'GET /api/%2e%2e/metrics HTTP/1.1', 'GET /api/timeline?from=a&to=b&px=1e9 HTTP/1.1',
      'GET /api/timeline?from=0&to=1e308&px=10000 HTTP/1.1', 'GET /api/timeline?from=1&to=0&px=5&tids=1,,x HTTP/1.1',
      'GET /api/interval?tid=-1&id=NaN HTTP/1.1', 'GET /api/flame?tids=9999999999999999999&kind=lock HTTP/1.1',
      'GET /api/resources?key=__proto__ HTTP/1.1', 'GET /api/sched?tgid=constructor HTTP/1.1', 'GET /api/nothing HTTP/1.1',
      'GET / HTTP/0.9', 'GET / HTTP/9.9', 'GET / FTP/1.1', 'GET', '\u0000\u0001\u0002', 'GET /\u001b[2J HTTP/1.1',
      `GET /${'a'.repeat(20_000)} HTTP/1.1`, `GET /api/timeline?tids=${'1,'.repeat(5000)}1&from=0&to=1&px=1 HTTP/1.1`,
    ];
    for (const l of lines) {
      const host = l.includes('HTTP/1.1') ? `Host: 127.0.0.1:${port}\r\n` : '';
      const got = await raw(`${l}\r\n${host}Connection: close\r\n\r\n`);
      if (got) expect(got, l).toMatch(/^HTTP\/1\.[01] [1-5]\d\d /);
      expect(proc.exitCode, `${l}: ${stderr}`).toBeNull();
    }
    // the server's own answers to a bad request say which
    expect(await raw(`POST /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`)).toMatch(/^HTTP\/1\.1 (404|405)/);
    expect(await raw(`GET /api/nothing HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 404/);
    await expectAlive();
  }, 120_000);

  it('huge headers and bodies: refused with 431 or 413, nothing kept', async () => {
    const before = rssKiB();
    const big = `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'b'.repeat(1 << 20)}\r\n\r\n`;
    expect(await raw(big)).toMatch(/^HTTP\/1\.1 431/);
    const many = `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${Array.from({ length: 5000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`;
    expect(await raw(many)).toMatch(/^HTTP\/1\.1 431/);
    // a body nobody asked for, announced huge: not read into memory
    const body = await raw(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 10000000000\r\n\r\n${'x'.repeat(1 << 20)}`, 3000);
    expect(body).toMatch(/^(HTTP\/1\.1 (200|413|400) |$)/);
    await expectAlive();
    expect(rssKiB() - before).toBeLessThan(100 << 10);
  }, 60_000);

  it('1,000 connections at once, idle, then each asking /metrics: every one answered, a normal request meanwhile too', async () => {
    const before = rssKiB();
    const socks = await open(1000);
    expect(socks.filter(s => !s.destroyed).length).toBeGreaterThan(900);
    await expectAlive(); // while 1,000 sit idle
    const answers = await Promise.all(socks.map(s => new Promise<string>(resolve => {
      let got = '';
      s.on('data', d => { got += d; if (/\r\n\r\n/.test(got)) resolve(got.slice(0, 12)); });
      s.on('close', () => resolve(got.slice(0, 12)));
      s.write(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    })));
    // answered, or (past the server's budget of unsent bytes) told to come back
    for (const a of answers) expect(a === '' || /^HTTP\/1\.1 (200|503)/.test(a), a).toBe(true);
    expect(answers.filter(a => a.startsWith('HTTP/1.1 200')).length).toBeGreaterThan(100);
    closeAll();
    await expectAlive();
    expect(rssKiB() - before).toBeLessThan(200 << 10);
  }, 120_000);

  it('a client sending its request a byte a second: dropped after the header timeout, others answered meanwhile', async () => {
    const s = connect(port, '127.0.0.1');
    let closed = false;
    let got = '';
    s.on('close', () => { closed = true; });
    s.on('data', d => { got += d; });
    s.on('error', () => { closed = true; });
    const req = `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: ${'s'.repeat(200)}\r\n\r\n`;
    let i = 0;
    const start = Date.now();
    while (!closed && i < req.length && Date.now() - start < 60_000) {
      s.write(req[i++]);
      if (i % 5 === 0) expect(await normal()).toBe(200); // served meanwhile
      await new Promise(r => setTimeout(r, 1000));
    }
    expect(closed, `still open after ${i} bytes`).toBe(true);
    expect(got === '' || /^HTTP\/1\.1 408/.test(got), got).toBe(true);
    await expectAlive();
  }, 90_000);

  it('clients that never read (the event stream, /metrics pipelined): memory bounded, others answered', async () => {
    const before = rssKiB();
    const hogs: Socket[] = [];
    for (let i = 0; i < 50; i++) {
      const s = connect(port, '127.0.0.1');
      s.pause(); // never reads
      s.on('error', () => {});
      s.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      hogs.push(s);
    }
    const pipelined = `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`.repeat(200);
    for (let i = 0; i < 100; i++) {
      const s = connect(port, '127.0.0.1');
      s.pause();
      s.on('error', () => {});
      s.write(pipelined);
      hogs.push(s);
    }
    for (let k = 0; k < 5; k++) {
      await new Promise(r => setTimeout(r, 1000));
      expect(await normal()).toBe(200);
      expect(await normal('/api/meta')).toBe(200);
    }
    const during = rssKiB();
    for (const s of hogs) s.destroy();
    await expectAlive();
    // generous: 150 connections' worth of kernel-refused bytes held in user space would be far more
    expect(during - before, `RSS ${before} -> ${during} KiB`).toBeLessThan(150 << 10);
  }, 90_000);
});
