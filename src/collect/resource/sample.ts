// Decoding what bpf/resource.bpf.c hands over: the task iterator's samples (struct pi_res_sample,
// back to back in what read(2) of the iterator returns) and the exit captures of resource_exits
// (struct pi_res_exit). Every counter is cumulative since the task (or, for dead threads, since
// the process) started.
import type { Clock } from '../clock.js';
import { cstring, u64 } from '../decode.js';
import { pi_res_counters, pi_res_exit, pi_res_flags, pi_res_kind, pi_res_mem, pi_res_sample } from '../layout.js';

export const COUNTERS = Object.keys(pi_res_counters.OFF) as Array<keyof typeof pi_res_counters.OFF>;
export type CounterName = (typeof COUNTERS)[number];
export type Counters = Record<CounterName, number>;

export const MEM_FIELDS = Object.keys(pi_res_mem.OFF) as Array<keyof typeof pi_res_mem.OFF>;
export type Mem = Record<(typeof MEM_FIELDS)[number], number>;

export interface Sample {
  /** 'thread': c is the thread's own counters; 'group': c is its process's dead threads', mem its memory. */
  kind: 'thread' | 'group';
  pid: number;
  tgid: number;
  flags: number;
  /** When the kernel read it, ns since the clock's epoch. */
  ts: number;
  /** task->start_time (of the group leader for 'group'), ns since the clock's epoch. */
  start: number;
  comm: string;
  c: Counters;
  /** Pages; undefined without an mm (kernel threads, tasks that exited). */
  mem?: Mem;
}

export interface ExitCapture {
  thread: Sample;
  /** The last thread of its process left: the whole process's last figures. */
  group?: Sample & { threads: number; maxrssPages: number };
}

export const ZERO: Counters = Object.fromEntries(COUNTERS.map(k => [k, 0])) as Counters;

export const has = (s: { flags: number }, f: keyof typeof pi_res_flags): boolean => (s.flags & pi_res_flags[f]) !== 0;

/** A u32 view of buf (copied if buf is not 4-aligned, which a Buffer from a pool may not be). */
function words(buf: Buffer): { b: Buffer; u: Uint32Array } {
  const b = buf.byteOffset % 4 === 0 ? buf : Buffer.from(buf);
  return { b, u: new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2) };
}

function counters(u: Uint32Array, off: number): Counters {
  const c = {} as Counters;
  for (const k of COUNTERS) c[k] = u64(u, off + pi_res_counters.OFF[k]);
  return c;
}

const S = pi_res_sample.OFF;

function decodeAt(b: Buffer, u: Uint32Array, off: number, clock: Clock): Sample {
  const flags = u[(off + S.flags) >>> 2];
  const s: Sample = {
    kind: u[(off + S.kind) >>> 2] === pi_res_kind.PI_RES_GROUP ? 'group' : 'thread',
    pid: u[(off + S.pid) >>> 2],
    tgid: u[(off + S.tgid) >>> 2],
    flags,
    ts: clock.at(u, off + S.ts_ns),
    start: clock.at(u, off + S.start_ns),
    comm: cstring(b, off + S.comm, pi_res_sample.LEN.comm),
    c: counters(u, off + S.c),
  };
  if (flags & pi_res_flags.PI_RES_F_MEM) {
    const m = {} as Mem;
    for (const k of MEM_FIELDS) m[k] = u64(u, off + S.mem + pi_res_mem.OFF[k]);
    s.mem = m;
  }
  return s;
}

/** Every sample in what the iterator wrote. */
export function decodeSamples(buf: Buffer, clock: Clock): Sample[] {
  if (buf.length % pi_res_sample.SIZE) throw new Error(`resource iterator: ${buf.length} bytes is not a whole number of samples`);
  const { b, u } = words(buf);
  const out: Sample[] = [];
  for (let off = 0; off < b.length; off += pi_res_sample.SIZE) out.push(decodeAt(b, u, off, clock));
  return out;
}

const X = pi_res_exit.OFF;

/** One value of the resource_exits map. */
export function decodeExit(buf: Buffer, clock: Clock): ExitCapture {
  const { b, u } = words(buf);
  const thread = decodeAt(b, u, X.thread, clock);
  if (!u[X.group_dead >>> 2]) return { thread };
  return {
    thread,
    group: { ...decodeAt(b, u, X.group, clock), threads: u[X.threads >>> 2], maxrssPages: u64(u, X.maxrss_pages) },
  };
}
