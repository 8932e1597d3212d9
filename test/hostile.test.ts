// Hostile target names: workloads/hostile names itself and a thread (prctl PR_SET_NAME,
// pthread_setname_np) and execs itself with argv words holding newlines, ANSI escape sequences (an OSC
// window title, clear screen, colours), a C1 CSI, markup and bytes that are not UTF-8. The text
// output shows them escaped (one line each, nothing a terminal acts on), NDJSON stays one valid JSON
// object a line with the names intact, Prometheus label values are escaped per the exposition format
// (promtool parses the page), and the page's data and its self-contained file keep markup inert.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, cli, waitFor, workload } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'procimage-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The names as the kernel holds them, decoded as procimage decodes them (bytes that are not UTF-8: U+FFFD). */
const COMM = 'e\x1b]0;pwn\x07\n\ufffd\ufffd<b>';
const THREAD = 't\x1b[5m\r\u009b2J';
const ARGV = ['\x1b[1mhostile\n', '--named', '\x1b[31mred\x1b[0m', 'line1\nline2', '\ufffd\ufffd not utf-8',
  '</script><script>alert(1)</script>', '$(touch /tmp/procimage-pwned)', '\x1b[2J\x1b]0;title\x07', 'back\\slash "q"'];

/** Characters a terminal acts on: C0 controls but the newline, DEL, C1, the line/paragraph separators. */
const TERMINAL_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

const freePort = () => new Promise<number>(resolve => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
});

describe('a target with hostile names', () => {
  it('text: every name escaped, on its line, no terminal control passed through', async () => {
    const r = await cli(['trace', '-a', '--interval', '0.2', '--', workload('hostile'), '400'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(3); // the workload's own status
    for (const [name, out] of [['stdout', r.stdout], ['stderr', r.stderr]]) {
      const bad = TERMINAL_CONTROL.exec(out);
      expect(bad, `${name}: U+${bad?.[0].charCodeAt(0).toString(16)} at ${JSON.stringify(out.slice(Math.max(0, (bad?.index ?? 0) - 60), (bad?.index ?? 0) + 20))}`).toBeNull();
    }
    // the comm, escaped, in the event lines, the tables and the summary alike
    expect(r.stdout).toContain(String.raw`e\x1b]0;pwn\x07\n��<b>`);
    expect(r.stdout).toMatch(/^\d+\.\d{9} +\d+ +\d+ +e\\x1b\]0;pwn\\x07\\n/m);
    expect(r.stdout).toMatch(/^── procimage summary/m);
    // argv as bash's $'...': one line, and pastes back as the same words
    expect(r.stdout).toContain(String.raw`$'\x1b[31mred\x1b[0m' $'line1\nline2'`);
    expect(r.stdout).not.toMatch(/^line2/m);
    // the $'...' words are what bash reads back as the argv (the first five: none holds a space)
    const words = /\/proc\/self\/exe {2}\[(.*)\] {2}ppid/.exec(r.stdout)![1].split(' ').slice(0, 5);
    const back = execFileSync('bash', ['-c', `printf '%s\\0' ${words.join(' ')}`]).toString().split('\0');
    expect(back.slice(0, 5)).toEqual([ARGV[0], '400', ...ARGV.slice(1, 4)]);
  }, 60_000);

  it('NDJSON: one valid object a line, the names intact, nothing raw a terminal acts on', async () => {
    const rec = join(dir, 'h.rec');
    const r = await cli(['trace', '--json', '--record', rec, '-a', '--interval', '0.2', '--', workload('hostile'), '400'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(3);
    expect(TERMINAL_CONTROL.exec(r.stdout)).toBeNull();
    const lines = r.stdout.split('\n').filter(Boolean);
    const recs = lines.map(l => JSON.parse(l) as Record<string, unknown>); // every line parses
    expect(recs.some(x => x.comm === COMM)).toBe(true);
    expect(recs.some(x => x.comm === THREAD)).toBe(true);
    const exec = recs.find(x => x.type === 'exec' && (x.argv as string[]).includes('--named'))!;
    expect((exec.argv as string[]).slice(2)).toEqual(ARGV.slice(1));
    // the recording holds the same lines: report --json gives them back, byte for byte
    const rep = await cli(['report', '--json', rec]);
    expect(rep.code).toBe(0);
    expect(rep.stdout).toBe(r.stdout);
  }, 60_000);

  it('Prometheus: label values escaped per the exposition format (promtool parses it); the page\'s data is JSON, its file inert', async () => {
    const port = await freePort();
    const rec = join(dir, 'p.rec');
    const proc = spawn(CLI, ['trace', '--listen', `127.0.0.1:${port}`, '--record', rec, '-a', '--', workload('hostile'), '3000'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', d => { err += d; });
    const exited = new Promise(r => proc.once('exit', r));
    try {
      const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();
      const metrics = await waitFor(async () => {
        if (!err.includes('serving the page')) return undefined;
        const m = await get('/metrics');
        return m.includes('pwn') ? m : undefined;
      }, 'the hostile comm in /metrics', 20_000);
      // the exposition format: \\ \" \n are the escapes; the value is one line
      const line = metrics.split('\n').find(l => l.startsWith('procimage_target_up{') && l.includes('pwn'))!;
      expect(line).toContain(`comm="${COMM.replace(/\n/g, '\\n')}"`);
      for (const l of metrics.split('\n').filter(x => x && !x.startsWith('#'))) {
        expect(l).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? \S+$/);
      }
      let promtool = '';
      try {
        promtool = execFileSync('promtool', ['check', 'metrics'], { input: metrics, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
      } catch (e) {
        promtool = String((e as { stdout?: Buffer }).stdout ?? '') + String((e as { stderr?: Buffer }).stderr ?? '');
      }
      expect(promtool).not.toMatch(/pars(e|ing) error|invalid/i); // lint remarks on names are not errors of the format
      // the page's data: JSON, the names intact (the page writes them as text: test/page.test.ts)
      const procs = JSON.parse(await get('/api/processes')) as { processes: Array<{ argv: string[] | null }>; threads: Array<{ comm: string }> };
      expect(procs.processes.some(p => p.argv?.includes(ARGV[5]))).toBe(true);
      expect(procs.threads.some(t => t.comm === COMM)).toBe(true);
    } finally {
      await exited;
    }
    // the self-contained page: the data cannot close its script element
    const html = join(dir, 'p.html');
    const r = await cli(['report', rec, '--html', html]);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(html, 'utf8');
    expect(text).not.toContain('</script><script>alert(1)');
    expect(text).toContain('alert(1)');
  }, 60_000);
});
