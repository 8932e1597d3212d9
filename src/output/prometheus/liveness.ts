// Whether a target's task still lives, asked of /proc at each scrape. Only keytime (-k) hands over a
// record at every task's end, and resource (-r) only for the tasks it reports that interval; the
// kernel's syscall, lock and scheduling-delay tables say nothing of an end. Without this, the
// targets of those categories would never end: their series would stay and pile up to the bound.
// Cost: one read of a stat line per living target per scrape, ~25-50 µs each on a loaded 2-core
// machine (1000 targets: ~40 ms a scrape).
import { readFileSync } from 'node:fs';

/** thread: the thread `pid` of process `tgid`; else the process `tgid` as a whole. */
export type Liveness = (pid: number, tgid: number, thread: boolean) => boolean;

export const procLiveness: Liveness = (pid, tgid, thread) => {
  let stat: string;
  try {
    // a process by its leader's own line: the same state and thread count, without the kernel
    // adding up every thread's CPU time for the process's line (/proc/TGID/stat)
    stat = readFileSync(`/proc/${tgid}/task/${thread ? pid : tgid}/stat`, 'latin1');
  } catch (e) {
    // gone (reaped); anything else (no /proc?) is no evidence of an end
    const code = (e as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ESRCH';
  }
  return !endedStat(stat, thread);
};

/**
 * Whether a /proc/PID/stat line is a task that has ended: a zombie (or dead) awaiting its parent's
 * wait. A process's leader may be a zombie while its other threads run on (it called pthread_exit):
 * the process has ended only when no other thread is left (num_threads counts the leader).
 */
export function endedStat(stat: string, thread: boolean): boolean {
  // the fields after the comm, which may itself hold spaces and parentheses
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = f[0], threads = Number(f[17]);
  if (state !== 'Z' && state !== 'X') return false;
  return thread || !(threads > 1);
}
