// When a running task (a process, or a thread: /proc/TID works for both) is gone: trace -p/-P ends
// when its target does, as perf record -p and strace -p do. Polled from /proc (a few reads a
// second, off nothing hot): exited means no /proc entry, a zombie or dead state, or another task
// now under the same id (its start time differs: the id was reused).

import { readFileSync } from 'node:fs';

/** State letter and start time (clock ticks since boot) of /proc/ID/stat; undefined if there is none. */
function stat(id: number): { state: string; start: string } | undefined {
  try {
    const s = readFileSync(`/proc/${id}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(') ') + 2).split(' '); // comm may hold spaces and parentheses
    return { state: f[0], start: f[19] };
  } catch {
    return undefined;
  }
}

/**
 * Calls onExit once the task id (alive now) has exited. Returns a function that stops watching.
 * Does nothing if the task is not there to begin with.
 */
export function watchTaskExit(id: number, onExit: () => void, everyMs = 200): () => void {
  const first = stat(id);
  if (!first) return () => undefined;
  const timer = setInterval(() => {
    const now = stat(id);
    if (!now || now.state === 'Z' || now.state === 'X' || now.start !== first.start) {
      clearInterval(timer);
      onExit();
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
