// The per-task files of /proc that the /proc source (procsampler.ts) reads, parsed. Each holds the
// same kernel counters the task iterator reads from task_struct (bpf/resource.bpf.h); which file
// shows which field is in docs/ndjson.md ("Where each figure comes from").
import { closeSync, openSync, readSync } from 'node:fs';

let buf = Buffer.allocUnsafe(16 << 10);

/**
 * A small /proc file's text, or undefined if the task ended meanwhile (ENOENT, ESRCH). Read into one
 * buffer kept for every file: readFileSync costs 2-3 times as much here (an fstat, a buffer and a
 * string per file; ~40 against ~16 µs a file), which adds up at a few files per thread.
 */
export function readText(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    let n = 0;
    for (;;) {
      if (n === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(buf.length)]);
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) return buf.toString('latin1', 0, n);
      n += r;
    }
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** /proc/PID[/task/TID]/stat: the fields resource needs (numbers as the file gives them). */
export interface TaskStat {
  comm: string;
  /** R, S, D, Z (zombie), X (dead), T, t, I... */
  state: string;
  /** task->flags (PF_*). */
  flags: number;
  minflt: number;
  majflt: number;
  /** cputime_adjust()ed user and system time, in USER_HZ ticks (for TGID/stat: the whole process). */
  utime: number;
  stime: number;
  threads: number;
  /** task->start_boottime in USER_HZ ticks since boot. */
  startTicks: number;
  /** The CPU it last ran on. */
  processor: number;
}

export const PF_EXITING = 0x4;
export const PF_KTHREAD = 0x00200000;

/** Parses a stat line. The comm is between the first '(' and the last ')': it may hold both. */
export function parseTaskStat(text: string): TaskStat {
  const open = text.indexOf('('), close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${text.slice(0, 40)}`);
  // fields from 3 (state) on: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice num_threads itrealvalue starttime ... (39) processor
  const f = text.slice(close + 2).split(' ');
  if (f.length < 20) throw new Error(`short /proc stat line: ${text.slice(0, 40)}`);
  return {
    comm: text.slice(open + 1, close), state: f[0], flags: Number(f[6]), minflt: Number(f[7]), majflt: Number(f[9]),
    utime: Number(f[11]), stime: Number(f[12]), threads: Number(f[17]), startTicks: Number(f[19]), processor: Number(f[36]),
  };
}

/** /proc/.../status: its numeric lines, "kB" values in bytes (VmRSS, RssAnon, voluntary_ctxt_switches...). */
export function parseStatus(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+)( kB)?$/gm)) out[m[1]] = Number(m[2]) * (m[3] ? 1024 : 1);
  return out;
}

/** /proc/.../io: rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled_write_bytes. */
export function parseIo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+): (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/** /proc/.../schedstat: se.sum_exec_runtime (ns), the run-queue wait (ns), the timeslices (switch-ins). */
export function parseSchedstatAll(text: string): { runNs: number; waitNs: number; timeslices: number } {
  const [runNs, waitNs, timeslices] = text.trim().split(' ').map(Number);
  if (![runNs, waitNs, timeslices].every(Number.isFinite)) throw new Error(`not a schedstat line: ${text}`);
  return { runNs, waitNs, timeslices };
}

/** /proc/.../schedstat: se.sum_exec_runtime (ns), the first of its three numbers. */
export function parseSchedstat(text: string): number {
  return parseSchedstatAll(text).runNs;
}
