// On-CPU and off-CPU intervals from the kernel's switch-outs and switch-ins. The kernel stamps both
// ends itself (task storage), so an interval is right even if a record in between was lost; the
// switch-out also carries the stacks, which this keeps until the thread comes back and its off-CPU
// interval is complete. `-k 0` drops the on-CPU intervals; `-k 1` keeps them.
import type { Policy } from '../collect/policy.js';
import type { OffCpuRecord, OnCpuRecord, ProcRecord, RawRecord, SwitchIn, SwitchOut } from '../collect/records.js';
import { isDead, taskState } from '../collect/taskstate.js';
import type { StackResolver } from './stacks.js';

interface Away {
  tgid: number;
  comm: string;
  cpu: number;
  ts: number;
  state: number;
  preempt: boolean;
  kstack: readonly string[];
  ustack: readonly string[];
  mode: OffCpuRecord['ustack_mode'];
}

interface Running { tgid: number; comm: string; cpu: number; since: number | null }

export class IntervalBuilder {
  /** Off the CPU now, with the stacks of the switch-out, by thread id. */
  private readonly away = new Map<number, Away>();
  /** On a CPU now (seen switching in), by thread id. */
  private readonly running = new Map<number, Running>();
  /** Threads that exited but have not made their last switch yet (it comes after sched_process_exit). */
  readonly dying = new Set<number>();

  constructor(private readonly policy: Policy, private readonly stacks: StackResolver) {}

  process(r: RawRecord): ProcRecord[] {
    return r.type === 'switch_out' ? this.out(r) : this.in(r);
  }

  /** Records the session hands out: an exit means a last switch is still to come. */
  observe(r: ProcRecord): void {
    if (r.type === 'exit' && this.running.has(r.pid)) this.dying.add(r.pid);
  }

  private out(r: SwitchOut): ProcRecord[] {
    const out: ProcRecord[] = [];
    this.running.delete(r.pid);
    if (this.policy.keytimeMode === 1) {
      out.push(this.oncpu(r.pid, r.tgid, r.comm, r.cpu, r.oncpu_start_ts_ns, r.ts_ns));
    }
    if (isDead(r.state)) { // its last switch: no off-CPU interval follows
      this.away.delete(r.pid);
      this.dying.delete(r.pid);
      return out;
    }
    this.away.set(r.pid, {
      tgid: r.tgid, comm: r.comm, cpu: r.cpu, ts: r.ts_ns, state: r.state, preempt: r.preempt,
      kstack: this.stacks.kernel(r.kstack), ustack: this.stacks.user(r), mode: r.stack_mode,
    });
    return out;
  }

  private in(r: SwitchIn): ProcRecord[] {
    this.running.set(r.pid, { tgid: r.tgid, comm: r.comm, cpu: r.cpu, since: r.ts_ns });
    const a = this.away.get(r.pid);
    this.away.delete(r.pid);
    if (r.first_run) return []; // created after activation: it had never run, nothing was interrupted
    // the switch-out's stacks belong to this interval only if it is the same one (none was lost)
    const mine = a && r.offcpu_start_ts_ns !== null && a.ts === r.offcpu_start_ts_ns ? a : undefined;
    const start = r.offcpu_start_ts_ns;
    const rec: OffCpuRecord = {
      type: 'offcpu', ts_ns: r.ts_ns, pid: r.pid, tgid: r.tgid, comm: r.comm,
      cpu: mine?.cpu ?? r.cpu, cpu_in: r.cpu,
      start_ts_ns: start, end_ts_ns: r.ts_ns, duration_ns: start === null ? null : r.ts_ns - start,
      // how it left before activation is not known (the kernel saw no switch-out)
      ...(start === null ? { state: '?', state_name: 'unknown (before activation)' } : taskState(r.state, r.preempt)),
      kstack: mine?.kstack ?? [], ustack: mine?.ustack ?? [], ustack_mode: mine?.mode ?? 'none',
      began_before_activation: start === null, ongoing: false,
    };
    return [rec];
  }

  private oncpu(pid: number, tgid: number, comm: string, cpu: number, start: number | null, end: number | null,
    now = end ?? 0): OnCpuRecord {
    return {
      type: 'oncpu', ts_ns: now, pid, tgid, comm, cpu, start_ts_ns: start, end_ts_ns: end,
      duration_ns: start === null || end === null ? null : end - start,
      began_before_activation: start === null, ongoing: end === null,
    };
  }

  /** At deactivation: the intervals still open, reported as ongoing (ts_ns = now). */
  finish(now: number): ProcRecord[] {
    const out: ProcRecord[] = [];
    for (const [pid, a] of this.away) {
      out.push({
        type: 'offcpu', ts_ns: now, pid, tgid: a.tgid, comm: a.comm, cpu: a.cpu, cpu_in: null,
        start_ts_ns: a.ts, end_ts_ns: null, duration_ns: null, ...taskState(a.state, a.preempt),
        kstack: a.kstack, ustack: a.ustack, ustack_mode: a.mode, began_before_activation: false, ongoing: true,
      });
    }
    if (this.policy.keytimeMode === 1) {
      for (const [pid, r] of this.running) out.push(this.oncpu(pid, r.tgid, r.comm, r.cpu, r.since, null, now));
    }
    this.away.clear();
    this.running.clear();
    this.dying.clear();
    return out;
  }
}
