// --pin-dir is shared ground: bpffs holds every BPF tool's pins on the host. An attach removes only
// what is recognisably procimage's own (a marked directory of progs/ and maps/ it pinned), and refuses,
// touching nothing, anything else: a foreign pin, the bpffs root, a directory inside or around a
// live attach's.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Attach, cli, pinnedFiles, pinnedProgId, testPinDir, type Run } from './helpers.js';

const live: Attach[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const a of live.splice(0)) await a.cleanup();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function attach(pinDir: string): Promise<Attach> {
  const a = await Attach.start(['-k'], pinDir);
  live.push(a);
  return a;
}

/** A directory of the test's own on bpffs, removed afterwards. */
function scratch(): string {
  const d = testPinDir();
  dirs.push(d);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Pins a map the way another BPF tool would; returns its id. */
function foreignMap(path: string): number {
  mkdirSync(join(path, '..'), { recursive: true });
  execFileSync('bpftool', ['map', 'create', path, 'type', 'array', 'key', '4', 'value', '4', 'entries', '1', 'name', 'foreign']);
  return mapId(path);
}

const mapId = (path: string) => (JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', path]).toString()) as { id: number }).id;

/** One line "procimage: ...", exit 1: refused. */
function refused(r: Run): string {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^procimage: /);
  return lines[0];
}

/** The program ids an attach pinned, to see that they are the same programs later. */
const progIds = (a: Attach) => pinnedFiles(a.pinDir, 'progs').map(p => pinnedProgId(`${a.pinDir}/progs/${p}`));

describe('--pin-dir refuses what is not procimage\'s own, and removes nothing of it', () => {
  it('a directory holding another tool\'s pin', async () => {
    const dir = scratch();
    const id = foreignMap(join(dir, 'foreign_map'));
    const line = refused(await cli(['attach', '-k', '--pin-dir', dir]));
    expect(line).toBe(`procimage: --pin-dir ${dir} holds foreign_map, which procimage did not pin: nothing was removed; choose another directory`);
    expect(readdirSync(dir)).toEqual(['foreign_map']);
    expect(mapId(join(dir, 'foreign_map'))).toBe(id);
  });

  it('progs/ and maps/ that look like procimage\'s but are not marked as an attach\'s', async () => {
    const dir = scratch();
    const id = foreignMap(join(dir, 'maps', 'pi_events'));
    expect(refused(await cli(['attach', '-k', '--pin-dir', dir]))).toMatch(/holds maps, which procimage did not pin/);
    expect(mapId(join(dir, 'maps', 'pi_events'))).toBe(id);
  });

  it('stale pins of a killed attach with another tool\'s pin among them: all of it stays', async () => {
    const a = await attach(testPinDir());
    a.proc.kill('SIGKILL');
    await a.exited;
    const id = foreignMap(join(a.pinDir, 'maps', 'theirs'));
    const stale = pinnedFiles(a.pinDir, 'progs');
    expect(refused(await cli(['attach', '-k', '--pin-dir', a.pinDir]))).toMatch(/holds maps\/theirs, which procimage did not pin/);
    expect(pinnedFiles(a.pinDir, 'progs')).toEqual(stale);
    expect(mapId(join(a.pinDir, 'maps', 'theirs'))).toBe(id);
  });

  it('the bpffs root', async () => {
    const before = readdirSync('/sys/fs/bpf');
    for (const root of ['/sys/fs/bpf', '/sys/fs/bpf/', '/sys/fs/bpf/x/..']) {
      expect(refused(await cli(['attach', '-k', '--pin-dir', root]))).toMatch(/is the root of a BPF filesystem/);
    }
    // what was there stays (but other engineers' and tools' own directories, which come and go by themselves)
    const others = /^procimage-(?:test|bench)-/;
    expect(readdirSync('/sys/fs/bpf')).toEqual(expect.arrayContaining(before.filter(e => !others.test(e) || e.startsWith(`procimage-test-${process.pid}-`))));
  });

  it('a directory inside a live attach\'s: the live attach keeps its pins and keeps working', async () => {
    const a = await attach(testPinDir());
    const ids = progIds(a);
    for (const inner of [join(a.pinDir, 'maps'), join(a.pinDir, 'progs'), join(a.pinDir, 'new', 'deeper')]) {
      expect(refused(await cli(['attach', '-k', '--pin-dir', inner]))).toBe(`procimage: --pin-dir ${inner} is inside ` +
        `${a.pinDir}, the pin directory of a running procimage attach (pid ${a.proc.pid}): choose a directory outside it`);
    }
    expect(progIds(a)).toEqual(ids);
    expect(pinnedFiles(a.pinDir, 'maps')).toEqual(expect.arrayContaining(['pi_events', 'pi_policy']));
    expect(existsSync(join(a.pinDir, 'new'))).toBe(false);
    expect(JSON.parse((await a.ctl(['--status'])).stdout).pid).toBe(a.proc.pid);
  });

  it('a directory around a live attach\'s', async () => {
    const outer = scratch();
    const a = await attach(join(outer, 'inner'));
    const ids = progIds(a);
    expect(refused(await cli(['attach', '-k', '--pin-dir', outer]))).toBe(`procimage: --pin-dir ${outer} holds ${a.pinDir}, ` +
      `the pin directory of a running procimage attach (pid ${a.proc.pid}): choose another directory, or stop that attach ` +
      `first: procimage ctl -f --pin-dir ${a.pinDir}`);
    expect(progIds(a)).toEqual(ids);
  });

  it('a directory inside a dead attach\'s, whose stale pins the next attach there will clean', async () => {
    const a = await attach(testPinDir());
    a.proc.kill('SIGKILL');
    await a.exited;
    const inner = join(a.pinDir, 'sub');
    expect(refused(await cli(['attach', '-k', '--pin-dir', inner]))).toMatch(/is inside .*, the pin directory of a procimage attach: /);
    expect(existsSync(inner)).toBe(false);
  });
});

describe('ctl -f', () => {
  it('unpins what the attach pinned and nothing else: a pin another tool added stays, with a warning', async () => {
    const a = await attach(testPinDir());
    dirs.push(a.pinDir);
    const id = foreignMap(join(a.pinDir, 'maps', 'theirs'));
    expect((await a.ctl(['-f'])).code).toBe(0);
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(a.stderr).toContain(`warning: left maps/theirs in ${a.pinDir}: procimage did not pin it`);
    expect(readdirSync(a.pinDir)).toEqual(['maps']);
    expect(readdirSync(join(a.pinDir, 'maps'))).toEqual(['theirs']);
    expect(mapId(join(a.pinDir, 'maps', 'theirs'))).toBe(id);
  });

  it('leaves a directory it did not make, and takes an empty one without a warning', async () => {
    const dir = scratch();
    const a = await attach(dir);
    expect(a.stderr).not.toMatch(/warning/);
    expect((await a.ctl(['-f'])).code).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });
});
