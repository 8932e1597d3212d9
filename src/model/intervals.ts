// On-CPU and off-CPU intervals from the kernel's switch-outs and switch-ins. The kernel stamps both
// ends itself (task storage), so an interval is right even if a record in between was lost; the
// switch-out also carries the stacks, which this keeps until the thread comes back and its off-CPU
// interval is complete. `-k 0` drops the on-CPU intervals; `-k 1` keeps them.
//
// With --offcpu-min (the default) a switch-out sends a record only the first time its process has
// its stacks (their sig); later intervals name the sig, and the short ones are only counted in the
// kernel (offcpu_agg, read by pollAggregates). Where each thread stands at the end is read from the
// kernel too (keytime_tasks), since a switch that sent nothing left no trace here.
import type { BpfMap } from '../bpf/index.js';
import { cstring as cstringOf, u64 } from '../collect/decode.js';
import type { TaskNow } from '../collect/keytime.js';
import { pi_offcpu_agg, pi_offcpu_agg_key, pi_waker_flags } from '../collect/layout.js';
import { readComm } from '../collect/maps.js';
import type { Policy } from '../collect/policy.js';
import type { AggWaker, OffCpuAggRecord, OffCpuRecord, OnCpuRecord, ProcRecord, RawRecord, SwitchIn, SwitchOut, Waker } from '../collect/records.js';
import { isDead, taskState } from '../collect/taskstate.js';
import { NO_FRAMES } from './stackcache.js';
import type { StackResolver } from './stacks.js';
import { wakerOfRecord, wakerOfSwitchIn, type WakerSeen } from './wakers.js';

/** The stacks of a switch-out, symbolized. */
interface Stacks {
  kstack: readonly string[];
  ustack: readonly string[];
  locs: readonly string[];
  mode: OffCpuRecord['ustack_mode'];
  truncated: boolean;
}

const NO_STACKS: Stacks = { kstack: NO_FRAMES, ustack: NO_FRAMES, locs: NO_FRAMES, mode: 'none', truncated: false };

interface Away extends Stacks {
  tgid: number;
  comm: string;
  cpu: number;
  ts: number;
  state: number;
  preempt: boolean;
}

/** An aggregate's totals at its last report. */
interface Reported { count: number; total: number; oncpuCount: number; oncpu: number; at: number }

const AK = pi_offcpu_agg_key.OFF, AV = pi_offcpu_agg.OFF;
/** In an aggregate key's waker_flags: a wake-up ended its intervals (PI_AGG_WOKEN in bpf/procimage.h). */
const PI_AGG_WOKEN = 0x80000000;

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
  /** The stacks of each sig a process sent, by tgid: later intervals name them. */
  private readonly sigs = new Map<number, Map<bigint, Stacks>>();
  /** Threads and processes seen ending since the last read of the aggregates: theirs go after it. */
  private readonly ended = new Set<number>();
  private readonly endedProcs = new Set<number>();
  /** Each aggregate (by its key's bytes) as last reported. */
  private readonly reported = new Map<string, Reported>();
  /**
   * The latest wake-up of each sleeping thread, by thread id, until its switch-in says whether it
   * ended its interval (the waker record is in the ring before the switch-in: it was reserved first).
   */
  private readonly woken = new Map<number, WakerSeen>();
  /** Wakers' names by thread id, from their records, for the aggregates (which name only the thread). */
  private readonly wakerComms = new Map<number, string>();

  constructor(private readonly policy: Policy, private readonly stacks: StackResolver, private readonly startNs = 0) {}

  process(r: RawRecord): ProcRecord[] {
    if (r.type === 'waker') {
      this.woken.set(r.wakee_pid, wakerOfRecord(r, this.stacks));
      this.wakerComms.set(r.pid, r.comm);
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
    if (r.type === 'exit' && r.process_exit) this.endedProcs.add(r.tgid);
  }

  private out(r: SwitchOut): ProcRecord[] {
    const out: ProcRecord[] = [];
    // the switch-in that began this on-CPU interval, if it sent a record (not one long before)
    const last = this.running.get(r.pid);
    const arrived = last && last.since === r.oncpu_start_ts_ns ? last : undefined;
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
      this.ended.add(r.pid);
      return out;
    }
    const user = this.stacks.user(r);
    const stacks: Stacks = { kstack: this.stacks.kernel(r.kstack), ustack: user.frames, locs: user.locs, mode: r.stack_mode, truncated: user.truncated };
    if (r.sig) {
      let mine = this.sigs.get(r.tgid);
      if (!mine) this.sigs.set(r.tgid, mine = new Map());
      mine.set(r.sig, stacks);
    }
    this.away.set(r.pid, { tgid: r.tgid, comm: r.comm, cpu: r.cpu, ts: r.ts_ns, state: r.state, preempt: r.preempt, ...stacks });
    return out;
  }

  private stacksOf(tgid: number, sig: bigint): Stacks {
    return this.sigs.get(tgid)?.get(sig) ?? NO_STACKS;
  }

  private in(r: SwitchIn): ProcRecord[] {
    if (r.out_sent || r.offcpu_start_ts_ns === null) return this.back(r);
    // its switch-out sent nothing (its stacks had gone out before): the on-CPU interval it ended, then
    // the off-CPU one as if that switch-out had been read
    const out: ProcRecord[] = [];
    const last = this.running.get(r.pid);
    this.running.delete(r.pid);
    if (this.policy.keytimeMode === 1) {
      const start = r.oncpu_start_ts_ns;
      const inferred = r.oncpu_start_inferred || (!!last && last.since === start && last.inferred);
      out.push(this.oncpu(r.pid, r.tgid, r.comm, r.out_cpu, start, r.offcpu_start_ts_ns, start === null, inferred));
    }
    this.away.set(r.pid, { tgid: r.tgid, comm: r.comm, cpu: r.out_cpu, ts: r.offcpu_start_ts_ns, state: r.state,
      preempt: r.preempt, ...this.stacksOf(r.tgid, r.sig) });
    return [...out, ...this.back(r)];
  }

  private back(r: SwitchIn): ProcRecord[] {
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
    // no record of this wake-up (lost; or not sent, --offcpu-min): its name from an earlier one of the waker's
    const w = seen && seen.wake_ts_ns === r.wake_ts_ns ? seen : { ...wakerOfSwitchIn(r), comm: this.wakerComms.get(r.waker_pid) ?? null };
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

  /**
   * The short intervals counted in the kernel since the last read (offcpu_agg), as offcpu_agg
   * records with their stacks; the entries of threads that ended before the read go (a scrape's
   * read, `keep`, changes nothing).
   */
  pollAggregates(map: BpfMap, now: number, keep = false): OffCpuAggRecord[] {
    const out: OffCpuAggRecord[] = [];
    const on = this.policy.keytimeMode === 1;
    for (const [k, v] of map.entries()) {
      const id = k.toString('hex');
      const pid = k.readUInt32LE(AK.pid), tgid = k.readUInt32LE(AK.tgid);
      this.seen.add(pid);
      const vu = new Uint32Array(v.buffer, v.byteOffset, pi_offcpu_agg.SIZE / 4);
      const count = u64(vu, AV.count);
      const was = this.reported.get(id) ?? { count: 0, total: 0, oncpuCount: 0, oncpu: 0, at: this.startNs };
      if (count > was.count) {
        const total = u64(vu, AV.total_ns), oncpuCount = u64(vu, AV.oncpu_count), oncpu = u64(vu, AV.oncpu_ns);
        const st = this.stacksOf(tgid, k.readBigUInt64LE(AK.sig));
        out.push({
          type: 'offcpu_agg', ts_ns: now, pid, tgid, comm: cstringOf(v, AV.comm, pi_offcpu_agg.LEN.comm), cpu: v.readUInt32LE(AV.cpu),
          since_ts_ns: was.at, count: count - was.count, total_ns: total - was.total, max_ns: u64(vu, AV.max_ns),
          // -k 0 reports no on-CPU time (as it sends no oncpu records)
          oncpu_count: on ? oncpuCount - was.oncpuCount : 0, oncpu_ns: on ? oncpu - was.oncpu : 0, below_ns: this.policy.offcpuMinNs,
          ...taskState(k.readUInt32LE(AK.state), k.readUInt32LE(AK.preempt) !== 0),
          kstack: st.kstack, ustack: st.ustack, ustack_locs: st.locs, ustack_mode: st.mode, ustack_truncated: st.truncated,
          waker: this.aggWaker(k.readUInt32LE(AK.waker_pid), v.readUInt32LE(AV.waker_tgid), k.readUInt32LE(AK.waker_flags)),
        });
        if (!keep) this.reported.set(id, { count, total, oncpuCount, oncpu, at: now });
      }
      if (!keep && this.ended.has(pid)) {
        map.delete(k);
        this.reported.delete(id);
      }
    }
    if (!keep) {
      this.ended.clear();
      for (const tgid of this.endedProcs) this.sigs.delete(tgid);
      this.endedProcs.clear();
    }
    out.sort((a, b) => a.tgid - b.tgid || a.pid - b.pid);
    return out;
  }

  /** The waker of an aggregate, from its key: pid, flags (PI_AGG_WOKEN: a wake-up ended them). */
  private aggWaker(pid: number, tgid: number, flags: number): AggWaker | null {
    if (!(flags & PI_AGG_WOKEN)) return null;
    const kthread = (flags & pi_waker_flags.PI_WAKER_KTHREAD) !== 0;
    const comm = this.wakerComms.get(pid) ?? (pid ? readComm(tgid, pid) ?? null : 'swapper');
    return { pid, tgid, comm, context: kthread ? 'kthread' : 'task', target: (flags & pi_waker_flags.PI_WAKER_TARGET) !== 0 };
  }

  /**
   * At deactivation: the intervals still open, reported as ongoing (ts_ns = now). tasks: where the
   * kernel says each thread of this activation (generation) stands, which the records alone do not
   * tell when switches sent none.
   */
  finish(now: number, tasks?: { now: TaskNow[]; generation: number }): ProcRecord[] {
    for (const t of tasks?.now ?? []) {
      if (t.gen !== tasks!.generation) continue;
      this.seen.add(t.pid);
      if (t.off_ns !== null) {
        this.running.delete(t.pid);
        if (this.away.get(t.pid)?.ts !== t.off_ns) {
          this.away.set(t.pid, { tgid: t.tgid, comm: t.comm, cpu: t.cpu, ts: t.off_ns, state: t.state, preempt: t.preempt,
            ...this.stacksOf(t.tgid, t.sig) });
        }
      } else if (t.on_ns !== null) {
        this.away.delete(t.pid);
        if (this.running.get(t.pid)?.since !== t.on_ns) {
          this.running.set(t.pid, { tgid: t.tgid, comm: t.comm, cpu: t.cpu, since: t.on_ns, inferred: false });
        }
      }
    }
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
