// Every struct that crosses the kernel/user boundary has one layout: the TypeScript offsets are
// generated from the objects' BTF; here they are checked to be current, to match what gcc makes of
// the same header (an independent oracle), and the decoders are run on records gcc laid out.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeLayouts, render } from '../tools/gen-layout.js';
import * as layout from '../src/gen/layout.js';
import { Clock } from '../src/collect/clock.js';
import { keytime } from '../src/collect/keytime.js';
import { decodeExit, decodeSamples } from '../src/collect/resource/sample.js';
import { syscall } from '../src/collect/syscall.js';
import { eventType } from '../src/collect/event.js';
import { forEachRecord } from '../src/bpf/ringbuf.js';
import { isRaw, type ProcRecord } from '../src/collect/records.js';
import { ROOT } from './helpers.js';

const objs = readdirSync(join(ROOT, 'build/bpf')).filter(f => f.endsWith('.bpf.o')).map(f => join(ROOT, 'build/bpf', f));
const fixture = join(ROOT, 'build/test/records');
const T0 = (1n << 55n) + 12345n;

describe('layout', () => {
  it('src/gen/layout.ts is what the built objects\' BTF says (not stale)', () => {
    const fresh = render(mergeLayouts(join(ROOT, 'bpf/procimage.h'), objs));
    expect(readFileSync(join(ROOT, 'src/gen/layout.ts'), 'utf8')).toBe(fresh);
  });

  it('every struct has the same size and field offsets in the BPF objects as gcc gives the header', () => {
    const gcc = JSON.parse(execFileSync(fixture, ['layout']).toString()) as Record<string, { SIZE: number; OFF: Record<string, number> }>;
    const structs = Object.entries(layout).filter(([, v]) => typeof v === 'object' && 'SIZE' in v) as
      Array<[string, { SIZE: number; OFF: Record<string, number> }]>;
    expect(structs.length).toBeGreaterThanOrEqual(5);
    for (const [name, l] of structs) {
      expect(gcc[name], `${name} is missing from test/fixtures/records.c`).toBeDefined();
      expect(gcc[name].SIZE, `${name} size`).toBe(l.SIZE);
      expect(gcc[name].OFF, `${name} offsets (fields missing from the fixture must be added there)`).toEqual(l.OFF);
      expect(l.SIZE % 8, `${name} keeps records 8-aligned`).toBe(0);
    }
  });
});

describe('keytime decoders', () => {
  const buf = execFileSync(fixture, ['batch']);
  const b = { buf, u32: new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2), bytes: buf.length };
  const clock = new Clock(T0);
  const recs: ProcRecord[] = [];
  forEachRecord(b, (off, len) => {
    const r = keytime.decoders.get(eventType(b, off))?.(b, off, len, clock);
    if (r && !isRaw(r)) recs.push(r);
  });

  it('decodes fork, exec and exit records laid out by gcc', () => {
    expect(recs.map(r => r.type)).toEqual(['fork', 'exec', 'exit', 'exit']);
    expect(recs[0]).toEqual({
      type: 'fork', ts_ns: 1000, pid: 100, tgid: 100, comm: 'parent', cpu: 1,
      child_pid: 101, child_tgid: 101, thread: false, child_start_ts_ns: 900,
    });
    expect(recs[1]).toEqual({
      type: 'exec', ts_ns: 2000, pid: 101, tgid: 101, comm: 'true', cpu: 1, filename: '/usr/bin/true',
      argv: ['true', '--version', "it's"], argv_truncated: false, old_pid: 101, ppid: 100,
    });
    expect(recs[2]).toMatchObject({
      type: 'exit', ts_ns: 3000, pid: 101, exit_code: 7, signal: null, signal_name: null, core_dumped: false,
      process_exit: true, start_ts_ns: 900, lifetime_ns: 2100, oncpu_ns: 123456789012, ppid: 100,
    });
    expect(recs[3]).toMatchObject({
      type: 'exit', pid: 102, tgid: 100, comm: 'worker-thread-1', exit_code: null, signal: 11,
      signal_name: 'SIGSEGV', core_dumped: true, process_exit: false, lifetime_ns: 2500, process_start_ts_ns: 0,
    });
  });

  it('keeps absolute instants exact past 2^53 ns', () => {
    expect(clock.toAbsolute(recs[1].ts_ns)).toBe(T0 + 2000n);
  });
});

describe('resource decoders', () => {
  const buf = execFileSync(fixture, ['resource']);
  const clock = new Clock(T0);
  const SAMPLES = 2 * layout.pi_res_sample.SIZE;

  it('decodes the iterator samples gcc laid out, every counter in its place', () => {
    const [t, g] = decodeSamples(buf.subarray(0, SAMPLES), clock);
    expect(t).toMatchObject({ kind: 'thread', pid: 300, tgid: 300, ts: 5000, start: 100, comm: 'worker' });
    expect(t.mem).toBeUndefined();
    expect(Object.values(t.c)).toEqual(Array.from({ length: 14 }, (_, i) => 10 + i));
    expect(t.c).toMatchObject({ oncpu_ns: 10, utime_ns: 11, rchar: 17, cancelled_write_bytes: 23 });
    expect(g).toMatchObject({ kind: 'group', c: { oncpu_ns: 100, maj_flt: 106 } });
    expect(g.mem).toEqual({ file_pages: 1000, anon_pages: 1001, shmem_pages: 1002, swap_pages: 1003, vm_pages: 1004, hiwater_rss_pages: 1005 });
  });

  it('decodes an exit capture with its process figures', () => {
    const x = decodeExit(buf.subarray(SAMPLES), clock);
    expect(x.thread).toMatchObject({ kind: 'thread', pid: 301, tgid: 300, c: { oncpu_ns: 20 } });
    expect(x.group).toMatchObject({ kind: 'group', pid: 300, threads: 2, maxrssPages: 4242, c: { oncpu_ns: 200 } });
  });

  it('refuses a read that is not whole samples', () => {
    expect(() => decodeSamples(buf.subarray(0, 100), clock)).toThrow(/not a whole number of samples/);
  });
});

describe('syscall decoders', () => {
  const buf = execFileSync(fixture, ['batch']);
  const b = { buf, u32: new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2), bytes: buf.length };
  const clock = new Clock(T0);
  const recs: ProcRecord[] = [];
  forEachRecord(b, (off, len) => {
    const r = syscall.decoders.get(eventType(b, off))?.(b, off, len, clock);
    if (r && !isRaw(r)) recs.push(r);
  });

  it('decodes a syscall_seq batch from a record sized to it, in order, by name', () => {
    expect(recs).toEqual([{
      type: 'syscall_seq', ts_ns: 5000, pid: 102, tgid: 100, comm: 'worker-thread-1', first: 62,
      syscalls: ['read', 'write', 'exit_group', 'syscall_1000', 'syscall_-1'], nrs: [0, 1, 231, 1000, -1], partial: true,
    }]);
  });
});
