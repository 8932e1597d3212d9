// Target threads that never switched while collection was on. The kernel reports intervals at
// context switches, so a thread asleep through the whole activation (a daemon's idle worker), one
// that ran through it without a switch (a CPU hog alone on its CPU, an idle task of a CPU that never
// woke) would otherwise be missing from the timeline. They are found from what the kernel accounts
// per thread in /proc (the switch-in count and run time of /proc/TID/schedstat; for an idle task
// its CPU's idle time in /proc/stat), taken at activation and again at deactivation, and reported
// as one interval that began before activation and was still going at deactivation. An off-CPU
// one carries the kernel stack the thread still has (it has not run since it left).
import { readFileSync } from 'node:fs';
import type { Target } from '../collect/policy.js';
import type { OffCpuRecord, OnCpuRecord } from '../collect/records.js';
import { parseSchedstatAll, parseTaskStat, readText } from '../collect/resource/procfs.js';
import { parseStat } from '../collect/resource/system.js';
import { NO_FRAMES } from './stackcache.js';
import { tgidOf, threadsOf } from './threads.js';

/** What the kernel had accounted for one thread. */
interface Accounted {
  pid: number;
  tgid: number;
  runNs: number;      // schedstat's time on a CPU (ns); for an idle task, its CPU's idle+iowait ticks
  timeslices: number; // schedstat's switch-ins; not kept for an idle task (0)
}

/** A CPU's idle + iowait in USER_HZ ticks, from /proc/stat; undefined if it is offline. */
function idleTicks(cpu: number): number | undefined {
  const t = parseStat(readFileSync('/proc/stat', 'utf8')).perCpu[cpu];
  return t && t.idle + t.iowait;
}

function accounted(tgid: number, pid: number): Accounted | undefined {
  const s = readTask(tgid, pid, 'schedstat');
  return s === undefined ? undefined : { pid, tgid, ...parseSchedstatAll(s) };
}

/** A file of /proc/TGID/task/TID; undefined once the thread is gone. */
const readTask = (tgid: number, pid: number, file: string) => readText(`/proc/${tgid}/task/${pid}/${file}`);

/**
 * The thread's kernel stack now, from /proc/TID/stack, as the kernel's own unwinder gives it from the
 * thread's saved context; in the frame format of the switch-out records ("func+0x1a [module]"). The
 * scheduler's own frames are not in it.
 */
function kernelStackOf(tgid: number, pid: number): string[] {
  // none when it is gone or reading it is not allowed (CAP_SYS_ADMIN)
  return (readTask(tgid, pid, 'stack') ?? '').split('\n').filter(Boolean)
    .map(l => l.replace(/^\[<[0-9a-f]+>\] /, '').replace(/\/0x[0-9a-f]+/, ''));
}

/** ps's letters for a thread that is not running, in the words the switch-out records use. */
const STATE_NAMES: Record<string, string> = {
  R: 'preempted', S: 'sleeping', D: 'disk wait', I: 'idle', T: 'stopped', t: 'traced', P: 'parked',
};

export class QuietThreads {
  private constructor(private readonly target: Target, private readonly before: Accounted[]) {}

  /**
   * What the kernel has accounted for the target's threads now, at activation: -p, -P and -c only
   * (every thread of the system is not read twice from /proc; with no selector nothing is reported).
   */
  static atActivation(target: Target): QuietThreads {
    const before: Accounted[] = [];
    if (target.kind === 'cpu') {
      const idle = idleTicks(target.cpu);
      if (idle !== undefined) before.push({ pid: 0, tgid: 0, runNs: idle, timeslices: 0 });
    } else if (target.kind === 'pid' || target.kind === 'tgid') {
      const tgid = target.kind === 'tgid' ? target.tgid : tgidOf(target.pid);
      const pids = target.kind === 'tgid' ? threadsOf(target.tgid) : [target.pid];
      if (tgid !== undefined) for (const pid of pids) { const a = accounted(tgid, pid); if (a) before.push(a); }
    }
    return new QuietThreads(target, before);
  }

  /**
   * At deactivation: one interval for each thread known at activation that the kernel saw no switch
   * of (`seen`: every thread a switch record named) and that, by its own accounting, did not switch
   * in: on CPU throughout if it ran meanwhile (reported with `-k 1` only, as every on-CPU
   * interval), off CPU throughout, in the state it is in now, if not.
   */
  finish(seen: ReadonlySet<number>, keepOnCpu: boolean, now: number): Array<OnCpuRecord | OffCpuRecord> {
    const out: Array<OnCpuRecord | OffCpuRecord> = [];
    for (const b of this.before) {
      if (seen.has(b.pid)) continue;
      const base = { ts_ns: now, pid: b.pid, tgid: b.tgid, start_ts_ns: null, end_ts_ns: null, duration_ns: null,
        began_before_activation: true, ongoing: true, switch_in_inferred: false };
      if (this.target.kind === 'cpu') {
        const idle = idleTicks(this.target.cpu);
        if (idle === undefined) continue;
        const cpu = this.target.cpu, comm = `swapper/${cpu}`;
        // the CPU idled meanwhile, and no switch of its idle task happened: it idled throughout
        if (idle > b.runNs) { if (keepOnCpu) out.push({ type: 'oncpu', ...base, comm, cpu }); }
        else out.push(offcpu({ ...base, comm, cpu }, 'R', 'preempted'));
        continue;
      }
      // stack and state first: if it has not switched in after them either, they are those it left with
      const kstack = kernelStackOf(b.tgid, b.pid), stat = readTask(b.tgid, b.pid, 'stat'), a = accounted(b.tgid, b.pid);
      if (!a || stat === undefined || a.timeslices !== b.timeslices) continue; // gone, or it did switch (its records were lost)
      const s = parseTaskStat(stat);
      if (a.runNs > b.runNs) { if (keepOnCpu) out.push({ type: 'oncpu', ...base, comm: s.comm, cpu: s.processor }); }
      else out.push(offcpu({ ...base, comm: s.comm, cpu: s.processor }, s.state, STATE_NAMES[s.state] ?? `state ${s.state}`, kstack));
    }
    return out;
  }
}

function offcpu(base: Omit<OffCpuRecord, 'type' | 'cpu_in' | 'state' | 'state_name' | 'kstack' | 'ustack' | 'ustack_locs' | 'ustack_mode' | 'ustack_truncated'>,
  state: string, stateName: string, kstack: string[] = []): OffCpuRecord {
  // its user stack was not captured: the switch-out happened before activation
  return { type: 'offcpu', ...base, cpu_in: null, state, state_name: stateName, kstack, ustack: NO_FRAMES, ustack_locs: NO_FRAMES, ustack_mode: 'none', ustack_truncated: false, waker: null };
}
