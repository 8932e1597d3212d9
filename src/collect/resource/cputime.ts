// Splitting on-CPU time into user and system time the way the kernel does for /proc/PID/stat.
//
// The kernel knows on-CPU time exactly (se.sum_exec_runtime, ns, advanced at every switch and tick),
// but user vs system only from tick samples (with CONFIG_TICK_CPU_ACCOUNTING, each tick charges a
// whole tick to the mode it caught). /proc/PID/stat reports neither raw: cputime_adjust()
// (kernel/sched/cputime.c) scales the sampled utime:stime ratio to the precise total and keeps both
// parts from going backwards. This is the same algorithm, with its own memory of the last split per
// task, so procimage's user + system equals the precise on-CPU time and agrees with /proc.

export interface Split { user: number; system: number }

export interface CpuTimes {
  /** Precise on-CPU time, ns. */
  rtime: number;
  /** Tick-sampled user and system time, ns: only their ratio is used. */
  utime: number;
  stime: number;
}

/** One task's (or process's) adjusted split, kept monotonic across calls like the kernel's prev_cputime. */
export class CpuSplitter {
  private prev: Split = { user: 0, system: 0 };

  adjust(t: CpuTimes): Split {
    const { rtime } = t;
    if (this.prev.user + this.prev.system >= rtime) return { ...this.prev };
    let stime: number;
    if (t.stime === 0) stime = 0;
    else if (t.utime === 0) stime = rtime;
    else stime = Math.min(rtime, Math.round((t.stime / (t.stime + t.utime)) * rtime));
    if (stime < this.prev.system) stime = this.prev.system;
    let utime = rtime - stime;
    if (utime < this.prev.user) {
      utime = this.prev.user;
      stime = rtime - utime;
    }
    this.prev = { user: utime, system: stime };
    return { ...this.prev };
  }
}
