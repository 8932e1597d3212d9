// User frames a person can read and a machine can resolve later, on the real kernel: C++ names
// demangled (off-CPU and lock stacks), frames of a stripped PIE as file+offset, checked against the
// unstripped binary's symbols through its load segments (binutils' nm and readelf, not procimage's
// own ELF reader), and the `module` records every `ustack_locs` entry refers to.
import { copyFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseFrame } from '../src/collect/frames.js';
import { cli, tempDir, workload } from './helpers.js';

type Rec = Record<string, unknown> & { type: string; pid: number; tgid: number; comm: string; ts_ns: number };
const parse = (out: string): Rec[] => out.trim().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l));

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of a workload with its symbols stripped (.eh_frame stays: DWARF unwinding still works). */
function stripped(name: string, as: string): string {
  const path = join(dir, as);
  copyFileSync(workload(name), path);
  execFileSync('strip', [path]);
  expect(execFileSync('nm', [path], { stdio: ['ignore', 'pipe', 'pipe'] }).toString()).toBe(''); // "no symbols" goes to stderr
  return path;
}

/** Where function fn lies in the file: [first, end) file offsets, from nm's address and size and readelf's PT_LOADs. */
function fileRange(path: string, fn: string): [number, number] {
  const sym = execFileSync('nm', ['-S', '--defined-only', path]).toString().split('\n')
    .map(l => l.split(' ')).find(f => f.length === 4 && f[3] === fn);
  expect(sym, `${fn} in nm -S ${path}`).toBeDefined();
  const vaddr = parseInt(sym![0], 16), size = parseInt(sym![1], 16);
  const loads = [...execFileSync('readelf', ['-lW', path]).toString()
    .matchAll(/^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/gm)]
    .map(m => ({ offset: parseInt(m[1], 16), vaddr: parseInt(m[2], 16), filesz: parseInt(m[3], 16) }));
  const seg = loads.find(s => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
  expect(seg, `a PT_LOAD holding ${fn}`).toBeDefined();
  const off = vaddr - seg!.vaddr + seg!.offset;
  return [off, off + size];
}

const readelfBuildId = (path: string) => /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', path]).toString())?.[1];

/**
 * Every ustack_locs entry names a module written before it in the stream (a number, then the file
 * offset), or is a runtime address; locations are parallel to the frames. Returns the modules by id.
 */
function checkLocations(recs: Rec[]): Map<number, Rec> {
  const modules = new Map<number, Rec>();
  let checked = 0;
  for (const r of recs) {
    if (r.type === 'module') {
      expect(modules.has(r.module_id as number), `module ${r.module_id} written twice`).toBe(false);
      expect(r.module_id as number).toBeGreaterThan(0);
      expect(r.build_id === null || /^[0-9a-f]+$/.test(r.build_id as string)).toBe(true);
      modules.set(r.module_id as number, r);
      continue;
    }
    if (r.type !== 'offcpu' && r.type !== 'lock') continue;
    const frames = r.ustack as string[] | null, locs = r.ustack_locs as string[] | null;
    expect(locs === null, `${r.type}: ustack_locs null where ustack is`).toBe(frames === null);
    if (!frames || !locs) continue;
    expect(locs.length).toBe(frames.length);
    locs.forEach((loc, i) => {
      checked++;
      const m = /^(\d+)\+0x([0-9a-f]+)$/.exec(loc);
      if (!m) {
        expect(loc, `${loc}: a module location or an address`).toMatch(/^0x[0-9a-f]+$/);
        expect(frames[i]).toBe(loc); // no file: the frame is the address too
        return;
      }
      const mod = modules.get(Number(m[1]));
      expect(mod, `module ${m[1]} written before the record that names it`).toBeDefined();
      // the frame names the same file (its basename), and where it has no function, the same offset
      const p = parseFrame(frames[i]);
      const base = (mod!.path as string).startsWith('[') ? mod!.path : (mod!.path as string).split('/').pop();
      expect(p.module, `${frames[i]} vs module ${mod!.path}`).toBe(base);
      if (p.kind === 'module_offset') expect(p.offset).toBe(parseInt(m[2], 16));
    });
  }
  expect(checked).toBeGreaterThan(0);
  return modules;
}

describe('C++ frames', () => {
  it('are demangled in off-CPU stacks, and shortened to the function in the summary', async () => {
    const r = await cli(['trace', '--json', '-k', '0', '--', workload('cxxwork'), 'sleep', '2', '50']);
    expect(r.code, r.stderr).toBe(0);
    const recs = parse(r.stdout);
    checkLocations(recs);
    const sleeps = recs.filter(x => x.type === 'offcpu' && x.comm === 'cxxwork' && x.state === 'S');
    expect(sleeps.length, r.stderr).toBeGreaterThanOrEqual(2);
    for (const s of sleeps) {
      const u = s.ustack as string[];
      const at = (re: RegExp) => u.findIndex(f => re.test(f));
      // innermost first: the method of the class in the namespace, the function template, main
      const run = at(/^ns::Worker::run\(int\)\+0x[0-9a-f]+ \(cxxwork\) cxxwork\.cc:\d+$/);
      const drive = at(/^void ns::drive<ns::Worker>\(ns::Worker&, int\)\+0x[0-9a-f]+ \(cxxwork\) cxxwork\.cc:\d+$/);
      const main = at(/^main\+0x[0-9a-f]+ \(cxxwork\)/);
      expect(run, u.join('\n')).toBeGreaterThan(0);
      expect(drive, u.join('\n')).toBe(run + 1);
      expect(main, u.join('\n')).toBe(drive + 1);
      expect(u.some(f => f.includes('_ZN')), u.join('\n')).toBe(false);
    }
    // text: the summary's why ← where and user: chain, without parameter lists or return types
    const text = await cli(['trace', '-k', '0', '--', workload('cxxwork'), 'sleep', '2', '50']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/ S  cxxwork +do_nanosleep ← ns::Worker::run \(cxxwork\.cc:\d+\)$/m);
    expect(text.stdout).toMatch(/ns::Worker::run \(cxxwork\.cc:\d+\) ← ns::drive<ns::Worker> \(cxxwork\.cc:\d+\) ←/);
    expect(text.stdout).toMatch(/ · S sleeping · do_nanosleep ← ns::Worker::run \(cxxwork\.cc:\d+\)( · woken by .+)?$/m);
  });

  it('are demangled in the user stack of a contended pthread lock, with locations in the same modules as off-CPU stacks', async () => {
    const r = await cli(['trace', '--json', '-l', '-k', '0', '--', workload('cxxwork'), 'lock', '4', '20']);
    expect(r.code, r.stderr).toBe(0);
    const recs = parse(r.stdout);
    const modules = checkLocations(recs);
    const locks = recs.filter(x => x.type === 'lock' && x.source === 'pthread' && x.ustack !== null);
    expect(locks.length, r.stdout).toBeGreaterThan(0);
    const exe = [...modules.values()].filter(m => m.path === workload('cxxwork'));
    expect(exe.length).toBe(1); // one id for the file, whichever path met it first
    for (const l of locks) {
      const u = l.ustack as string[], locs = l.ustack_locs as string[];
      expect(u[0]).toMatch(/^pthread_mutex_lock\+0x0 \(libc\.so\.6\)$/);
      // the caller, from the return address: the method std::mutex::lock was inlined into
      expect(u[1]).toMatch(/^ns::Worker::locked\(int\)\+0x[0-9a-f]+ \(cxxwork\)$/);
      expect(locs[1]).toMatch(new RegExp(`^${exe[0].module_id}\\+0x[0-9a-f]+$`));
    }
    const waits = recs.filter(x => x.type === 'offcpu' && (x.ustack as string[]).some(f => f.startsWith('ns::Worker::locked(int)+')));
    expect(waits.length).toBeGreaterThan(0);
    for (const w of waits) {
      const i = (w.ustack as string[]).findIndex(f => f.startsWith('ns::Worker::locked(int)+'));
      expect((w.ustack_locs as string[])[i]).toMatch(new RegExp(`^${exe[0].module_id}\\+0x`));
    }
  });
});

describe('a stripped position-independent binary', () => {
  // runsleep as built (code at the same ELF address as file offset), and runsleep-shifted (code linked
  // at 0x40000, in the file at 0x2000): only a file offset is right for both
  for (const name of ['runsleep', 'runsleep-shifted']) {
    it(`${name}: its frames are file+offset, inside each function's file range, with the module's build ID`, async () => {
      const exe = stripped(name, `${name}-stripped`);
      const r = await cli(['trace', '--json', '-k', '0', '--', exe, '2', '50']);
      expect(r.code, r.stderr).toBe(0);
      const recs = parse(r.stdout);
      const modules = checkLocations(recs);
      const mod = [...modules.values()].find(m => m.path === exe);
      expect(mod, JSON.stringify([...modules.values()])).toBeDefined();
      expect(mod!.build_id).toBe(readelfBuildId(exe));
      expect(mod!.build_id).toBe(readelfBuildId(workload(name))); // strip keeps the note: the unstripped build is found by it

      const sleeps = recs.filter(x => x.type === 'offcpu' && x.comm === `${name}-stripped`.slice(0, 15) && x.state === 'S');
      expect(sleeps.length, r.stdout).toBeGreaterThanOrEqual(2);
      const ranges = ['b', 'a', 'main'].map(fn => fileRange(workload(name), fn));
      for (const s of sleeps) {
        const u = s.ustack as string[], locs = s.ustack_locs as string[];
        // nanosleep's frames in libc, then the program's: b, a, main, as offsets in the stripped file
        const first = u.findIndex(f => f.startsWith(`${name}-stripped+0x`));
        expect(first, u.join('\n')).toBeGreaterThan(0);
        expect(u.slice(0, first).every(f => f.includes('(libc.so.6)')), u.join('\n')).toBe(true);
        ranges.forEach(([lo, hi], k) => {
          const p = parseFrame(u[first + k]);
          expect(p, u.join('\n')).toMatchObject({ kind: 'module_offset', module: `${name}-stripped` });
          // a return address: after the call, inside the caller
          expect(p.offset!, `${u[first + k]} in [${lo.toString(16)}, ${hi.toString(16)})`).toBeGreaterThan(lo);
          expect(p.offset!).toBeLessThan(hi);
          expect(locs[first + k]).toBe(`${mod!.module_id}+0x${p.offset!.toString(16)}`);
        });
      }
    });
  }
});
