// What each category provides to the session (src/model/session.ts): its BPF object, which of that
// object's programs a policy needs attached, how to decode its ring records, and how to read the
// aggregates it keeps in the kernel. One file per category implements it; registry.ts lists them.
import type { Batch, BpfObject, Feature, Link } from '../bpf/index.js';
import type { Clock } from './clock.js';
import type { Category, Policy } from './policy.js';
import type { ProcRecord, RawRecord } from './records.js';
import type { Symbolizer } from './symbols.js';
import type { CgroupNames } from './cgroupnames.js';

/**
 * A ring record to a record for the sinks (or a raw record the model turns into some); null for a
 * record that only informs its collector (no output); undefined for one it cannot decode (counted as lost).
 */
export type Decoder = (b: Batch, off: number, len: number, clock: Clock) => ProcRecord | RawRecord | null | undefined;

export interface PollContext {
  /** The collector's own object. */
  obj: BpfObject;
  /** Any loaded object, by name (those in `requires` are loaded). */
  object(name: string): BpfObject;
  clock: Clock;
  policy: Policy;
  /** Now, in ns since the clock's epoch. */
  now: number;
  /** The activation's start, in ns since the clock's epoch. */
  startNs: number;
  /** The last poll of the activation (at deactivation): report everything still pending. */
  final: boolean;
  /** A read for a scrape, between the regular polls: read only, change nothing. */
  snapshot: boolean;
  /** Kernel and user addresses to symbols. */
  symbols: Symbolizer;
  /** With a cgroup or container target: threads' cgroup paths. */
  cgroups?: CgroupNames;
}

export interface Collector {
  readonly category: Category;
  /**
   * build/bpf/<object>.bpf.o. Several collectors may share one object: one program per hook then
   * serves them all (keytime and schedule share sched_switch), because each extra program on a hot
   * hook costs every event of every process again.
   */
  readonly object: string;
  /**
   * Other objects it needs loaded, whose programs it names in programs(): a hook another category
   * owns, serving both (lock's futex waits ride on syscall's sys_enter/sys_exit programs).
   */
  readonly requires?: readonly string[];
  /** Kernel features its object needs: checked before load, so a kernel without one gets a clear message. */
  readonly features?: readonly Feature[];
  /** Ring records it decodes, by enum pi_event_type. */
  readonly decoders: ReadonlyMap<number, Decoder>;
  /**
   * Programs that `policy` needs attached, by name, in its object or one it requires (program names
   * start with their object's name, so they are unique). Asked of every loaded collector, whether or
   * not its category is in the policy: one may need hooks for another's sake (keytime's fork/exit
   * follow a thread group's children for every category). The session attaches each program once.
   */
  programs(policy: Policy): string[];
  /**
   * Programs of its objects that it uses other than by programs() while `policy` is active: what
   * attachExtra attaches, an iterator it runs. A session loaded for known policies (trace) loads only
   * the programs that programs() and extraPrograms() name for them: verifying the rest is start-up
   * time for nothing.
   */
  extraPrograms?(policy: Policy): string[];
  /**
   * After its object is opened, before it is loaded: turn off programs this kernel cannot run (a
   * tracepoint it lacks), so that the rest of the category still loads. programs() must then not
   * name them.
   */
  configure?(obj: BpfObject): void;
  /**
   * What this policy asks of the category that it cannot collect, in a line each (a target kind a
   * source does not support, a hook the kernel lacks); the activation reports them.
   */
  notes?(policy: Policy): string[];
  /**
   * A ctl has connected to the ready daemon: an activation may follow within milliseconds. Starts,
   * off the event loop, what attaching would otherwise wait for (lock: the kernel's grace period
   * before it registers uprobes), so that the activation finds it done. Attaches nothing that
   * collects; costs nothing if no activation follows. Resolves, when done, with what it attached for
   * a moment (a link's target), if anything.
   */
  prepare?(obj: BpfObject): Promise<string | undefined> | undefined;
  /**
   * What cannot be attached by section name (uprobes on the target's libc, perf events). Started
   * first at activation, before reset() and before the other hooks, and awaited last: its links may
   * wait in the kernel (a uprobe's grace period) while the event loop attaches the rest. Its programs
   * must do nothing until the policy is written (they all check it).
   */
  attachExtra?(policy: Policy, obj: BpfObject): Promise<Link[]>;
  /**
   * At activation, before anything is attached: clear what the last activation left in its maps
   * (`object` gives the objects it requires, whose programs it shares).
   */
  reset?(obj: BpfObject, policy: Policy, object: (name: string) => BpfObject): void;
  /**
   * After a deactivation, off the next activation's path: empty what the kernel still holds of the
   * activation that ended (state its final poll read), so that the ready state holds none of it.
   */
  tidy?(obj: BpfObject): void;
  /**
   * Once collection runs (hooks attached, policy live), before the first poll: take a first reading
   * that the figures of the first interval are measured from (resource's counters since task start).
   */
  start?(ctx: PollContext): void;
  /** Reads its in-kernel aggregates into records: every --interval while active, and once at the end. */
  poll?(ctx: PollContext): ProcRecord[];
  /** Called for every record the session hands out (its own and others'), before the sinks see it. */
  observe?(r: ProcRecord): void;
}
