// The common head of every ring-buffer record (struct pi_event_hdr).
import type { Batch } from '../bpf/index.js';
import type { Clock } from './clock.js';
import { cstring } from './decode.js';
import { pi_event_hdr } from './layout.js';

const H = pi_event_hdr.OFF;

export interface Header { ts_ns: number; pid: number; tgid: number; comm: string; cpu: number }

export function eventType(b: Batch, off: number): number {
  return b.u32[(off + H.type) >>> 2];
}

export function readHeader(b: Batch, off: number, clock: Clock): Header {
  const u = b.u32;
  return {
    ts_ns: clock.at(u, off + H.ts_ns),
    pid: u[(off + H.pid) >>> 2],
    tgid: u[(off + H.tgid) >>> 2],
    comm: cstring(b.buf, off + H.comm, pi_event_hdr.LEN.comm),
    cpu: u[(off + H.cpu) >>> 2],
  };
}
