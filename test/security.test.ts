// Issue 17, security: what procimage leaves on disk is root's alone, ctl talks only to what root's
// procimage made, no shell ever runs a string, and serving beyond loopback is said.
import { spawn } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Attach, ROOT, cli, tempDir, testPinDir } from './helpers.js';
import { freePort } from './browser.js';

const live: Attach[] = [];
afterEach(async () => {
  for (const a of live.splice(0)) await a.cleanup();
});
const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOBODY = 65534;
const socketOf = (pinDir: string) => `/run/procimage/${createHash('sha256').update(pinDir).digest('hex').slice(0, 16)}.sock`;

/** "path mode" of everything under root (root itself included), symlinks left out (their mode means nothing). */
function modes(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    out.push(`${relative(root, p) || '.'} ${(st.mode & 0o7777).toString(8)}`);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(root);
  return out;
}

describe('what procimage creates is root-only', () => {
  it('pins, sockets, caches, recordings and exports: directories 0700, everything else 0600, owned by root', async () => {
    const sleeper = spawn('sleep', ['30']);
    try {
      const a = await Attach.start(['-a', '--json']);
      live.push(a);
      const rec = join(dir, 'ctl.rec');
      const act = await a.ctl(['-a', '-P', String(sleeper.pid), '--record', rec]);
      expect(act.code, act.stderr).toBe(0);
      // the attach's tree, its socket and /run/procimage, while active
      const pins = modes(a.pinDir);
      expect(pins.length).toBeGreaterThan(10);
      for (const m of pins) expect(m).toMatch(/^(?:\.|progs|maps) 700$|^(?:progs|maps)\/\S+ 600$/);
      expect(lstatSync(a.pinDir).uid).toBe(0);
      const sock = lstatSync(socketOf(a.pinDir));
      expect(sock.isSocket()).toBe(true);
      expect([(sock.mode & 0o777).toString(8), sock.uid]).toEqual(['600', 0]);
      const run = statSync('/run/procimage');
      expect([(run.mode & 0o777).toString(8), run.uid]).toEqual(['700', 0]);
      for (const f of readdirSync('/run/procimage')) {
        const st = lstatSync(join('/run/procimage', f));
        expect(`${f} ${(st.mode & 0o777).toString(8)} ${st.uid}`).toBe(`${f} 600 0`);
      }
      expect((await a.ctl(['-d'])).code).toBe(0);
      expect((statSync(rec).mode & 0o777).toString(8)).toBe('600');
    } finally {
      sleeper.kill('SIGKILL');
    }
    // trace: the recording and every export
    const out = (f: string) => join(dir, f);
    const t = await cli(['trace', '-S', '--record', out('t.rec'), '--perfetto', out('t.json'), '--pprof', out('t.pb.gz'),
      '--folded', out('t.folded'), '--', 'true']);
    expect(t.code, t.stderr).toBe(0);
    for (const f of ['t.rec', 't.json', 't.pb.gz', 't.folded']) {
      const st = statSync(out(f));
      expect(`${f} ${(st.mode & 0o777).toString(8)} ${st.uid}`).toBe(`${f} 600 0`);
    }
    // report's exports too
    const r = await cli(['report', out('t.rec'), '--perfetto', out('r.json'), '--folded', out('r.folded')]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['r.json', 'r.folded']) expect((statSync(out(f)).mode & 0o777).toString(8)).toBe('600');
  });
});

describe('ctl refuses what root\'s procimage did not make, in one line, touching nothing', () => {
  const made: string[] = [];
  afterEach(() => { for (const p of made.splice(0)) rmSync(p, { recursive: true, force: true }); });

  async function refused(pinDir: string, expected: RegExp): Promise<void> {
    for (const op of [['--status'], ['-d'], ['-f']]) {
      const r = await cli(['ctl', ...op, '--pin-dir', pinDir]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(expected);
    }
  }

  it('a directory procimage did not mark as a pin directory', async () => {
    const pinDir = testPinDir();
    mkdirSync(pinDir, { mode: 0o700 });
    made.push(pinDir);
    await refused(pinDir, /^procimage: refusing \S+: not a procimage pin directory \(no procimage mark in it\): procimage did not make it$/);
    expect(existsSync(pinDir)).toBe(true);
  });

  it('a pin directory another user owns', async () => {
    const pinDir = testPinDir();
    mkdirSync(pinDir, { mode: 0o700 });
    made.push(pinDir);
    symlinkSync('procimage-attach', join(pinDir, 'procimage'));
    chownSync(pinDir, NOBODY, NOBODY);
    await refused(pinDir, new RegExp(`^procimage: refusing \\S+: owned by uid ${NOBODY}, not by root: procimage did not make it$`));
  });

  it('a control socket another user owns: never connected to', async () => {
    const pinDir = testPinDir();
    const path = socketOf(pinDir);
    let connections = 0;
    const server = createServer(s => { connections++; s.destroy(); });
    await new Promise<void>(r => server.listen(path, r));
    try {
      chownSync(path, NOBODY, NOBODY);
      await refused(pinDir, new RegExp(`^procimage: refusing ${path}: owned by uid ${NOBODY}, not by root: procimage did not make it$`));
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });
});

describe('no shell runs a string', () => {
  /** Every source file procimage runs: the TypeScript, the C helpers, the launcher. */
  const sources = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap(e =>
    e.isDirectory() ? sources(join(d, e.name)) : /\.(ts|c|h)$/.test(e.name) && !e.name.endsWith('.test.ts') ? [join(d, e.name)] : []);

  it('src/ and native/: no shell option, no exec of a command string, no system() or popen()', () => {
    const files = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'native'))];
    expect(files.length).toBeGreaterThan(50);
    const bad: string[] = [];
    for (const f of files) {
      const lines = readFileSync(f, 'utf8').split('\n');
      lines.forEach((l, i) => {
        const code = l.replace(/\/\/.*$|^\s*\*.*$/, '');
        const c = /\.[ch]$/.test(f);
        if (!c && (/[{,]\s*shell\s*:\s*(?!false)/.test(code) || /\b(?:execSync|exec)\s*\(\s*[`'"]/.test(code) ||
            /from 'node:child_process'/.test(code) && /\bexec(?:Sync)?\b/.test(code)) ||
          c && (/\b(?:system|popen)\s*\(/.test(code) || /"\/bin\/sh"|"sh"/.test(code))) {
          bad.push(`${relative(ROOT, f)}:${i + 1}: ${l.trim()}`);
        }
      });
    }
    expect(bad).toEqual([]);
  });

  it('the launcher passes its arguments on quoted ("$@"), never through eval', () => {
    const sh = readFileSync(join(ROOT, 'bin', 'procimage'), 'utf8');
    expect(sh).toMatch(/exec node \$v8flags "\$root\/dist\/bundle\/main\.js" "\$@"/);
    expect(sh).not.toMatch(/\beval\b|\$\*|[^"]\$@/);
  });

  it('a command and arguments with shell syntax run as they are: nothing is expanded', async () => {
    const marker = join(dir, 'expanded');
    const r = await cli(['trace', '-S', '--', 'echo', `$(touch ${marker})`, '; touch', marker]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`$(touch ${marker}) ; touch ${marker}`);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('--listen beyond loopback', () => {
  const lan = Object.values(networkInterfaces()).flat().find(i => i && !i.internal && i.family === 'IPv4')?.address;
  const WARNING = (host: string) => new RegExp(`^procimage: warning: serving on ${host.replace(/[.[\]]/g, '\\$&')}, not loopback: ` +
    'anyone who can reach it sees the page and /metrics, with the comm, command lines, paths and stacks of what is traced ' +
    '\\(bind 127\\.0\\.0\\.1, and reach it through ssh -L, to keep it to yourself\\)$');

  const cases: Array<[string, string]> = [['0.0.0.0', '0.0.0.0'], ['[::]', '::'], ...(lan ? [[`${lan} (this machine's LAN address)`, lan] as [string, string]] : [])];
  it.each(cases)('trace --listen %s: one warning line saying what it serves', async (_what, host) => {
    const port = await freePort();
    const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const r = await cli(['trace', '-S', '--listen', addr, '--', 'true']);
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter(l => l.includes('warning'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(WARNING(host));
  });

  it('attach --listen 0.0.0.0 warns once; loopback, by address or name, does not', async () => {
    const a = await Attach.start(['-k', '--listen', `0.0.0.0:${await freePort()}`]);
    live.push(a);
    expect(a.stderr.split('\n').filter(l => l.includes('warning'))).toEqual([expect.stringMatching(WARNING('0.0.0.0'))]);
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      const r = await cli(['trace', '-S', '--listen', `${host}:${await freePort()}`, '--', 'true']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('serving the page');
      expect(r.stderr).not.toContain('warning');
    }
  });
});
