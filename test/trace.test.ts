// `procimage trace` end to end: a command started already targeted, its whole life recorded, the
// summary printed, and trace exiting with the command's own status.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, cli, tempDir, waitFor, workload } from './helpers.js';

type Rec = Record<string, unknown> & { type: string; pid: number; tgid: number };
const parse = (out: string): Rec[] => out.trim().split('\n').filter(Boolean).map(l => JSON.parse(l));

const NOT_EXECUTABLE = join(tempDir(), 'not-executable');
writeFileSync(NOT_EXECUTABLE, '#!/bin/sh\n', { mode: 0o644 });
afterAll(() => rmSync(dirname(NOT_EXECUTABLE), { recursive: true, force: true }));

describe('trace -- CMD', () => {
  it('records exec and exit of CMD and exits with its status; every line is a record with the common fields', async () => {
    const r = await cli(['trace', '--json', '-k', '0', '--', 'sh', '-c', 'exit 5']);
    expect(r.code).toBe(5);
    const recs = parse(r.stdout);
    for (const rec of recs) {
      expect(Object.keys(rec)).toEqual(expect.arrayContaining(['type', 'ts_ns', 'pid', 'tgid', 'comm']));
      expect(typeof rec.ts_ns).toBe('number');
    }
    const exec = recs.find(x => x.type === 'exec')!;
    const exit = recs.find(x => x.type === 'exit' && x.pid === exec.pid)!;
    expect(exec).toMatchObject({ argv: ['sh', '-c', 'exit 5'] });
    expect(exit).toMatchObject({ exit_code: 5, process_exit: true });
    expect(r.stderr).toMatch(/── procimage summary/);
    expect(r.stderr).toMatch(/records +.*\bexec 1\b/);
    expect(r.stderr).toMatch(/records +.*\bexit 1\b/);
  });

  it('sees a command killed by a signal, and exits 128 + the signal like a shell', async () => {
    const r = await cli(['trace', '--json', '--', 'sh', '-c', 'kill -KILL $$']);
    expect(r.code).toBe(137);
    expect(parse(r.stdout).find(x => x.type === 'exit')).toMatchObject({ signal: 9, signal_name: 'SIGKILL', exit_code: null });
  });

  it('follows the processes CMD starts, with their forks, execs and exits', async () => {
    const r = await cli(['trace', '--json', '--', 'sh', '-c', '/bin/true; (exit 4); sleep 0.01']);
    expect(r.code).toBe(0);
    const recs = parse(r.stdout);
    const sh = recs.find(x => x.type === 'exec')!.tgid;
    const forks = recs.filter(x => x.type === 'fork' && x.tgid === sh);
    expect(forks.length).toBeGreaterThanOrEqual(3);
    expect(recs.filter(x => x.type === 'exec').map(x => (x.argv as string[])[0])).toEqual(['sh', '/bin/true', 'sleep']);
    expect(recs.filter(x => x.type === 'exit' && x.exit_code === 4)).toHaveLength(1); // the subshell
    for (const f of forks) expect(recs.some(x => x.type === 'exit' && x.tgid === f.child_tgid)).toBe(true);
  });

  it('a command that lives 50 ms loses nothing, also with every core busy', async () => {
    const hogs = spawn('stress-ng', ['-c', '0', '-t', '20']);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await cli(['trace', '--json', '--', workload('forkloop'), '20']);
        expect(r.code).toBe(0);
        const recs = parse(r.stdout);
        expect(recs.filter(x => x.type === 'fork')).toHaveLength(20);
        expect(recs.filter(x => x.type === 'exit')).toHaveLength(21);
        expect(recs.filter(x => x.type === 'exec')).toHaveLength(1);
        expect(r.stderr).toMatch(/lost +none/);
      }
    } finally {
      hogs.kill('SIGKILL');
    }
  });

  it("keeps stdout NDJSON-only: CMD's own stdout goes to stderr", async () => {
    const r = await cli(['trace', '--json', '--', 'echo', 'hello from cmd']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).not.toContain('hello from cmd');
    expect(r.stderr.split('\n')).toContain('hello from cmd');
    expect(() => parse(r.stdout)).not.toThrow();
  });

  it('prints a text table and summary by default', async () => {
    const r = await cli(['trace', '--', 'sh', '-c', 'exit 2']);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^TIME\(s\) +PID +TGID +COMM +EVENT +DETAILS$/m);
    expect(r.stdout).toMatch(/^\d+\.\d{9} +\d+ +\d+ +sh +exec +\/usr\/bin\/sh +\[sh -c 'exit 2'\]/m);
    expect(r.stdout).toMatch(/^\d+\.\d{9} +\d+ +\d+ +sh +exit +exit code 2 · process ends/m);
    expect(r.stdout).toMatch(/lost +none/);
  });

  it.each([
    [['/no/such/cmd'], 127, 'procimage: cannot run /no/such/cmd: No such file or directory'],
    [['no-such-command-in-path', '-x'], 127, 'procimage: cannot run no-such-command-in-path: No such file or directory'],
    [[NOT_EXECUTABLE], 126, `procimage: cannot run ${NOT_EXECUTABLE}: Permission denied`],
    [['/usr'], 126, 'procimage: cannot run /usr: Permission denied'],
  ])('%j that cannot run: one line and a shell\'s status, nothing traced', async (cmd, code, line) => {
    for (const json of [[], ['--json']]) {
      const r = await cli(['trace', ...json, '--', ...cmd]);
      expect(r.code).toBe(code);
      expect(r.stderr).toBe(`${line}\n`);
      expect(r.stdout).toBe('');
    }
  });
});

describe('trace on a running target', () => {
  it.each([['SIGTERM', 'kill'], ['SIGINT', 'Ctrl-C']] as const)('%s (%s) flushes what was recorded, prints the summary, exits 0', async (sig, _how) => {
    const target = spawn('sh', ['-c', 'while :; do /bin/true; sleep 0.05; done']);
    const p = spawn(CLI, ['trace', '--json', '-P', String(target.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', d => { out += d; });
    p.stderr.on('data', d => { err += d; });
    try {
      await waitFor(() => out.includes('"type":"exit"'), 'a first record', 10_000);
      p.kill(sig);
      const code = await new Promise(r => p.on('close', r));
      expect(code).toBe(0);
      expect(err).toMatch(/── procimage summary/);
      expect(err).toContain(`procimage: ${sig}: stopped`);
      expect(err).not.toMatch(/internal error|^\s+at /m);
      // everything counted was printed: the summary's records line, type by type, against stdout
      const counted = Object.fromEntries(/^records +(.*)$/m.exec(err)![1].split(', ').map(t => t.split(' ')).map(([t, n]) => [t, Number(n)]));
      const printed: Record<string, number> = {};
      for (const r of parse(out)) if (r.type !== 'lost') printed[r.type] = (printed[r.type] ?? 0) + 1;
      expect(counted.exec).toBeGreaterThan(0);
      expect(printed).toEqual(counted);
    } finally {
      target.kill('SIGKILL');
    }
  });

  it('--duration ends it', async () => {
    const t0 = Date.now();
    const r = await cli(['trace', '--json', '--duration', '0.5', '-p', String(process.pid), '-m']);
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    // at least the duration; how much more depends on the machine's speed (teardown, a loaded host)
    expect(Number(/collected +([\d.]+) s/.exec(r.stderr)?.[1])).toBeGreaterThanOrEqual(0.5);
  });
});
