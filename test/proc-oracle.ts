// What /proc says about a process or thread: the independent oracle the resource tests compare
// procimage's figures with. Paths are /proc/PID or /proc/PID/task/TID.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** USER_HZ: the unit of the times in /proc/PID/stat. */
export const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

export interface Stat { state: string; minflt: number; majflt: number; utime: number; stime: number }

/** /proc/.../stat: state, faults and CPU ticks (fields 3, 10, 12, 14, 15), read past the "(comm)". */
export function stat(path: string): Stat {
  const s = readFileSync(`${path}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { state: f[0], minflt: Number(f[7]), majflt: Number(f[9]), utime: Number(f[11]), stime: Number(f[12]) };
}

/** /proc/.../io as numbers. */
export function io(path: string): Record<string, number> {
  return Object.fromEntries(readFileSync(`${path}/io`, 'utf8').trim().split('\n')
    .map(l => l.split(': ')).map(([k, v]) => [k, Number(v)]));
}

/** /proc/.../status: "kB" values in bytes, other numbers as numbers. */
export function status(path: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of readFileSync(`${path}/status`, 'utf8').matchAll(/^(\w+):\s+(\d+)( kB)?$/gm)) {
    out[m[1]] = Number(m[2]) * (m[3] ? 1024 : 1);
  }
  return out;
}

/** /proc/.../schedstat: on-CPU ns, ns waited on a run queue, timeslices. */
export function schedstat(path: string): { oncpu: number; runDelay: number } {
  const [oncpu, runDelay] = readFileSync(`${path}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { oncpu, runDelay };
}

/** |a - b| relative to b. */
export const relDiff = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** root and every process descending from it, from the parent pids in /proc. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc').filter(x => /^\d+$/.test(x)).map(Number)) {
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(d, Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out;
}

/**
 * Samples a thread's /proc/.../schedstat every few ms with the CLOCK_MONOTONIC time of each read,
 * so its on-CPU time and run delay can be interpolated at any instant of a record's window; and its
 * state then (stat: R running or runnable, S sleeping, D in I/O, T stopped...) and user and system
 * ticks.
 */
export class SchedstatSampler {
  readonly samples: Array<{ t: number; oncpu: number; runDelay: number; state: string; utime: number; stime: number }> = [];
  private timer: NodeJS.Timeout;

  constructor(readonly path: string, everyMs = 10) {
    this.timer = setInterval(() => {
      try {
        const s = schedstat(path);
        const { state, utime, stime } = stat(path);
        this.samples.push({ t: Number(process.hrtime.bigint()), ...s, state, utime, stime });
      } catch { this.stop(); }
    }, everyMs);
  }

  stop(): void { clearInterval(this.timer); }

  /** The figures at instant t (ns), interpolated between the reads around it, if both are within maxGapNs of t. */
  at(t: number, maxGapNs = 30e6): { oncpu: number; runDelay: number } | undefined {
    const s = this.samples;
    const i = s.findIndex(x => x.t >= t);
    if (i <= 0) return undefined;
    const a = s[i - 1], b = s[i];
    if (t - a.t > maxGapNs || b.t - t > maxGapNs) return undefined;
    const w = (t - a.t) / (b.t - a.t);
    return { oncpu: a.oncpu + w * (b.oncpu - a.oncpu), runDelay: a.runDelay + w * (b.runDelay - a.runDelay) };
  }
}
