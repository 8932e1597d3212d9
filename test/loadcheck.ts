// What the load test (test/load.test.ts) and the load bench (bench/load.ts) ask the kernel and /proc
// about an attach: its RSS, the entries left in the hash maps of its pin directory, and its programs
// still attached. One copy, so that the CI test checks exactly what the bench reports.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** VmRSS of a process, in KiB (NaN once it is gone). */
export function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** bpftool's JSON answer (null when it prints nothing: an empty list). */
export function bpftool<T>(args: string[]): T {
  return JSON.parse(execFileSync('bpftool', ['-j', ...args], { maxBuffer: 1 << 28 }).toString() || 'null') as T;
}

const pinned = (pinDir: string, sub: 'maps' | 'progs'): string[] => {
  try { return readdirSync(join(pinDir, sub)).sort(); } catch { return []; }
};

/** Entries of each hash map the attach pinned (per-thread and per-process state lives in them). */
export function mapEntries(pinDir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of pinned(pinDir, 'maps')) {
    const path = join(pinDir, 'maps', name);
    const info = bpftool<{ type: string }>(['map', 'show', 'pinned', path]);
    if (!/hash/.test(info.type)) continue;
    out[name] = (bpftool<unknown[]>(['map', 'dump', 'pinned', path]) ?? []).length;
  }
  return out;
}

/** Programs of this pin directory attached to anything now (behind a link or a perf event). */
export function attachedOf(pinDir: string): number {
  const ids = new Set(pinned(pinDir, 'progs').map(p => bpftool<{ id: number }>(['prog', 'show', 'pinned', join(pinDir, 'progs', p)]).id));
  const attached = [...bpftool<Array<{ prog_id: number }>>(['link', 'list']) ?? [], ...bpftool<Array<{ prog_id: number }>>(['perf', 'list']) ?? []];
  return attached.filter(l => ids.has(l.prog_id)).length;
}
