// The cgroup v2 path of each target thread, for records of a cgroup (or container) target: read
// from /proc/TID/cgroup at most once per thread and --interval (a thread that moves shows its new
// cgroup from the next interval on), and remembered for threads that have ended.
import { cgroupOf } from '../sys/cgroups.js';

export class CgroupNames {
  private readonly known = new Map<number, string>();
  private readonly fresh = new Set<number>();

  /** Thread pid's cgroup path ("/a/b"), or null if it was never seen alive. */
  of(pid: number): string | null {
    if (!this.fresh.has(pid)) {
      this.fresh.add(pid);
      const p = cgroupOf(pid);
      if (p !== undefined) this.known.set(pid, p);
    }
    return this.known.get(pid) ?? null;
  }

  /** A new interval: paths are read again when next asked. */
  tick(): void {
    this.fresh.clear();
  }
}
