// On-CPU and off-CPU intervals from the kernel's switch-outs and switch-ins. The kernel stamps both
// ends itself (task storage), so an interval is right even if a record in between was lost; the
// switch-out also carries the stacks, which this keeps until the thread comes back and its off-CPU
// interval is complete. `-k 0` drops the on-CPU intervals; `-k 1` keeps them.
import type { Policy } from '../collect/policy.js';
import type { OffCpuRecord, OnCpuRecord, ProcRecord, RawRecord, SwitchIn, SwitchOut, Waker } from '../collect/records.js';
import { isDead, taskState } from '../collect/taskstate.js';
import { NO_FRAMES } from './stackcache.js';
import type { StackResolver } from './stacks.js';
import { wakerOfRecord, wakerOfSwitchIn, type WakerSeen } from './wakers.js';

interface Away {
  tgid: number;
  comm: string;
  cpu: number;
  ts: number;
  state: number;
  preempt: boolean;
  kstack: readonly string[];
  ustack: readonly string[];
  locs: readonly string[];
  mode: OffCpuRecord['ustack_mode'];
  truncated: boolean;
}

interface Running { tgid: number; comm: string; cpu: number; since: number | null; inferred: boolean }

export class IntervalBuilder {
  /** Off the CPU now, with the stacks of the switch-out, by thread id. */
  private readonly away = new Map<number, Away>();
  /** On a CPU now (seen switching in), by thread id. */
  private readonly running = new Map<number, Running>();
  /** Threads that exited but have not made their last switch yet (it comes after sched_process_exit). */
  readonly dying = new Set<number>();
  /** Every thread a switch record named since activation (QuietThreads reports the others). */
  readonly seen = new Set<number>();
  /**
   * The latest wake-up of each sleeping thread, by thread id, until its switch-in says whether it
   * ended its interval (the waker record is in the ring before the switch-in: it was reserved first).
   */
  private readonly woken = new Map<number, WakerSeen>();

  constructor(private readonly policy: Policy, private readonly stacks: StackResolver) {}

  process(r: RawRecord): ProcRecord[] {
    if (r.type === 'waker') {
      this.woken.set(r.wakee_pid, wakerOfRecord(r, this.stacks));
      return [];
    }
    this.seen.add(r.pid);
    return r.type === 'switch_out' ? this.out(r) : this.in(r);
  }

  /**
   * Records the session hands out: an exit means the thread's last intervals are still to come. The
   * exit hook runs early in do_exit(): the teardown after it (the address space, the files) is the
   * thread's, on and off the CPU, reported as any other until its final switch (state X).
   */
  observe(r: ProcRecord): void {
    if (r.type === 'exit') this.dying.add(r.pid);
  }

  private out(r: SwitchOut): ProcRecord[] {
    const out: ProcRecord[] = [];
    const arrived = this.running.get(r.pid);
    this.running.delete(r.pid);
    // seen leaving before and not seen coming back: its switch-in record was lost (the kernel still
    // stamped the start), or the kernel neither reported nor stamped it (see keytime_unseen_start)
    const open = this.away.get(r.pid);
    if (open) out.push({ ...this.offcpu(r.pid, open, r.oncpu_start_ts_ns, null, false), ts_ns: r.oncpu_start_ts_ns ?? r.ts_ns });
    if (this.policy.keytimeMode === 1) {
      // a start the kernel inferred without reporting a switch-in: it was running at activation
      const before = r.oncpu_start_inferred ? !arrived : r.oncpu_start_ts_ns === null && !open;
      const inferred = arrived?.inferred ?? r.oncpu_start_inferred;
      out.push(this.oncpu(r.pid, r.tgid, r.comm, r.cpu, r.oncpu_start_ts_ns, r.ts_ns, before, inferred));
    }
    if (isDead(r.state)) { // its last switch: no off-CPU interval follows
      this.away.delete(r.pid);
      this.woken.delete(r.pid);
      this.dying.delete(r.pid);
      return out;
    }
    const user = this.stacks.user(r);
    this.away.set(r.pid, {
      tgid: r.tgid, comm: r.comm, cpu: r.cpu, ts: r.ts_ns, state: r.state, preempt: r.preempt,
      kstack: this.stacks.kernel(r.kstack), ustack: user.frames, locs: user.locs, mode: r.stack_mode, truncated: user.truncated,
    });
    return out;
  }

  private in(r: SwitchIn): ProcRecord[] {
    this.running.set(r.pid, { tgid: r.tgid, comm: r.comm, cpu: r.cpu, since: r.ts_ns, inferred: r.inferred });
    const a = this.away.get(r.pid);
    this.away.delete(r.pid);
    const waker = this.wakerOf(r);
    if (r.first_run) return []; // created after activation: it had never run, nothing was interrupted
    // the switch-out's stacks belong to this interval only if it is the same one (none was lost)
    const mine = a && r.offcpu_start_ts_ns !== null && a.ts === r.offcpu_start_ts_ns ? a : undefined;
    const start = r.offcpu_start_ts_ns;
    if (start === null) {
      // how it left before activation is not known (the kernel saw no switch-out)
      return [{
        type: 'offcpu', ts_ns: r.ts_ns, pid: r.pid, tgid: r.tgid, comm: r.comm, cpu: r.cpu, cpu_in: r.cpu,
        start_ts_ns: null, end_ts_ns: r.ts_ns, duration_ns: null, state: '?', state_name: 'unknown (before activation)',
        kstack: NO_FRAMES, ustack: NO_FRAMES, ustack_locs: NO_FRAMES, ustack_mode: 'none', ustack_truncated: false,
        began_before_activation: true, ongoing: false,
        switch_in_inferred: r.inferred, waker: null,
      }];
    }
    const left: Away = mine ?? { tgid: r.tgid, comm: r.comm, cpu: r.cpu, ts: start, state: r.state, preempt: r.preempt,
      kstack: NO_FRAMES, ustack: NO_FRAMES, locs: NO_FRAMES, mode: 'none', truncated: false }; // its switch-out record was lost: the kernel kept the rest
    return [{ ...this.offcpu(r.pid, left, r.ts_ns, r.cpu, r.inferred), waker }];
  }

  /** The waker of the interval a switch-in ends, if a wake-up ended it. */
  private wakerOf(r: SwitchIn): Waker | null {
    const seen = this.woken.get(r.pid);
    this.woken.delete(r.pid);
    if (r.wake_ts_ns === null) return null;
    const w = seen && seen.wake_ts_ns === r.wake_ts_ns ? seen : wakerOfSwitchIn(r);
    return { ...w, wake_delay_ns: r.ts_ns - r.wake_ts_ns };
  }

  /** The off-CPU interval that began when `a` left; end null: it came back at a time not known. */
  private offcpu(pid: number, a: Away, end: number | null, cpuIn: number | null, inferred: boolean): OffCpuRecord {
    return {
      // ts_ns: callers with no end say when it was known
      type: 'offcpu', ts_ns: end ?? a.ts, pid, tgid: a.tgid, comm: a.comm, cpu: a.cpu, cpu_in: cpuIn,
      start_ts_ns: a.ts, end_ts_ns: end, duration_ns: end === null ? null : end - a.ts,
      ...taskState(a.state, a.preempt), kstack: a.kstack, ustack: a.ustack, ustack_locs: a.locs, ustack_mode: a.mode,
      ustack_truncated: a.truncated, began_before_activation: false, ongoing: false, switch_in_inferred: inferred,
      waker: null,
    };
  }

  private oncpu(pid: number, tgid: number, comm: string, cpu: number, start: number | null, end: number | null,
    before: boolean, inferred: boolean, now = end ?? 0): OnCpuRecord {
    return {
      type: 'oncpu', ts_ns: now, pid, tgid, comm, cpu, start_ts_ns: start, end_ts_ns: end,
      duration_ns: start === null || end === null ? null : end - start,
      began_before_activation: before, ongoing: end === null, switch_in_inferred: inferred,
    };
  }

  /** At deactivation: the intervals still open, reported as ongoing (ts_ns = now). */
  finish(now: number): ProcRecord[] {
    const out: ProcRecord[] = [];
    for (const [pid, a] of this.away) out.push({ ...this.offcpu(pid, a, null, null, false), ts_ns: now, ongoing: true });
    if (this.policy.keytimeMode === 1) {
      for (const [pid, r] of this.running) out.push(this.oncpu(pid, r.tgid, r.comm, r.cpu, r.since, null, r.since === null, r.inferred, now));
    }
    this.away.clear();
    this.woken.clear();
    this.running.clear();
    this.dying.clear();
    return out;
  }
}
