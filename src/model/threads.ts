// A process's threads and a thread's process, from /proc, as they are now.
import { readdirSync, readFileSync } from 'node:fs';

/** The thread ids of a process; [tgid] if it cannot be read (gone, or not a process). */
export function threadsOf(tgid: number): number[] {
  try {
    return readdirSync(`/proc/${tgid}/task`).map(Number);
  } catch {
    return [tgid];
  }
}

/** The process of a thread; undefined if it is gone. */
export function tgidOf(pid: number): number | undefined {
  try {
    return Number(/^Tgid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) || undefined;
  } catch {
    return undefined;
  }
}
