// A recording's first line: what wrote it, where, when, and what was asked for. Every later line's
// instants are on the clock it names (CLOCK_MONOTONIC ns); the offsets turn them into wall-clock time.
import { arch, cpus, hostname, release } from 'node:os';
import type { Category, Policy } from '../../collect/policy.js';
import { clockOffsets } from '../../sys/libc.js';
import { VERSION } from '../../sys/version.js';
import { FORMAT_VERSION } from './format.js';

export interface RecordingHeader {
  type: 'recording';
  /** The file format (docs/recording.md); a reader refuses a newer one. */
  format: number;
  procimage: string;
  /** The activation's start (ns since the session clock's epoch in memory; absolute in the file). */
  ts_ns: number;
  /** Wall-clock time of ts_ns, for people. */
  started_at: string;
  host: string;
  kernel: string;
  arch: string;
  cpus: number;
  clock: 'CLOCK_MONOTONIC';
  /** Add to any ts_ns for CLOCK_REALTIME (ns since the Unix epoch): an exact integer in the file. */
  realtime_offset_ns: bigint;
  /** Add to any ts_ns for CLOCK_BOOTTIME (ns since boot, time suspended included). */
  boottime_offset_ns: bigint;
  policy: Policy;
  /** The categories the session loaded (the policy's are those it collects). */
  categories: Category[];
  /** trace -- CMD: the command. */
  command: string[] | null;
  /** The process that wrote the recording. */
  procimage_pid: number;
}

/** The header of an activation that started at startNs (ns since the session clock's epoch; startAbsNs absolute). */
export function makeHeader(o: { startNs: number; startAbsNs: bigint; policy: Policy; categories: Category[]; command?: string[] }): RecordingHeader {
  const off = clockOffsets();
  return {
    type: 'recording', format: FORMAT_VERSION, procimage: VERSION, ts_ns: o.startNs,
    started_at: new Date(Number((o.startAbsNs + off.realtimeNs) / 1_000_000n)).toISOString(),
    host: hostname(), kernel: release(), arch: arch(), cpus: cpus().length, clock: 'CLOCK_MONOTONIC',
    realtime_offset_ns: off.realtimeNs, boottime_offset_ns: off.boottimeNs,
    policy: o.policy, categories: o.categories, command: o.command ?? null, procimage_pid: process.pid,
  };
}
