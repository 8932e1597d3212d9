// A session: the BPF objects of the chosen categories, loaded and verified once (the slow part, done
// ahead of need), then activated and deactivated as often as asked, each time attaching only the
// hooks the policy needs. In the ready state no program is attached to anything: it costs nothing.
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  BpfObject, Codec, RingReader, Sideband, wakeBytes, forEachRecord, requireFeature, possibleCpus, readIter, supported,
  type Batch, type BpfMap, type Link,
} from '../bpf/index.js';
import { Clock } from '../collect/clock.js';
import type { Collector, Decoder, PollContext } from '../collect/collector.js';
import { eventType } from '../collect/event.js';
import { eventTypeName, readKernelLost, readPerType } from '../collect/lost.js';
import { CATEGORY_BIT, CATEGORY_FLAG, INACTIVE_POLICY, STACK_MODES, encodePolicy, isMemberTarget, validatePolicy, type Category, type Policy, type StackMode, type Target } from '../collect/policy.js';
import { isRaw, type LostRecord, type ProcRecord, type RecordType } from '../collect/records.js';
import { COLLECTORS, CORE, MAX_RECORD } from '../collect/registry.js';
import { CgroupNames } from '../collect/cgroupnames.js';
import { UserError } from '../sys/errors.js';
import { INIT_CGROUP_NS, cgroup2Mount, cgroupNamespaceOf, cgroupOf, cgroupUnder, containerThreads, threadsUnder } from '../sys/cgroups.js';
import { releaseFreeMemory } from '../sys/libc.js';
import { paths } from '../sys/paths.js';
import { mark } from '../sys/timing.js';
import { decodeTasksNow, type TaskNow } from '../collect/keytime.js';
import { pi_kstack_stat } from '../collect/layout.js';
import { IntervalBuilder } from './intervals.js';
import { QuietThreads } from './quiet.js';
import { tgidOf, threadsOf } from './threads.js';
import { OffCpuStacks, type StackTotal } from './offcpustacks.js';
import { WakeChains, type MigrationCount, type WakeChain, type WakerTotal } from './wakechains.js';
import { ModuleTable } from './modules.js';
import { ProcessTable, type ProcessInfo } from './processes.js';
import { StackResolver } from './stacks.js';
import { UnwindTables } from './unwindtables.js';
import { SystemSymbolizer } from './symbolizer.js';

/** Where records go: text, NDJSON, metrics... (src/output). */
export interface Sink {
  write(r: ProcRecord): void;
  /** Called after each batch of records (a ring batch, a poll round): write out what was buffered. */
  flush?(): void;
  /**
   * While the sink's reader lags (a pipe nobody drains fast enough): a promise settled once it has
   * caught up. The ring is not drained meanwhile, so records wait in the kernel, or are counted lost
   * there, instead of piling up in procimage's memory.
   */
  backedUp?(): Promise<void> | undefined;
}

export interface SessionOptions {
  /** What the user attached (`attach -k -S`, `trace -a`...). */
  categories: Category[];
  /** Ring buffer bytes, a power of two: sized for the longest event-loop stall. */
  ringBytes?: number;
  /** procimage's own tgid, excluded from "every thread" unless -m. */
  selfTgid?: number;
  /**
   * The policies the session will be activated with, when known before it loads (trace): only the
   * programs they use are loaded (Collector.programs, extraPrograms). Their targets matter only by
   * kind. Omitted: every program, for whatever policy comes (attach).
   */
  policies?: readonly Policy[];
}

export interface Activation {
  policy: Policy;
  /** Programs attached, by name. */
  hooks: string[];
  /** CLOCK_MONOTONIC ns when collection was running (links attached). */
  collectingNs: bigint;
  /** What the policy asked for that cannot be collected (Collector.notes), a line each. */
  notes: string[];
}

export interface SessionSummary {
  policy: Policy;
  duration_ns: number;
  records: Partial<Record<RecordType, number>>;
  lost: Record<string, number>;
  processes: ProcessInfo[];
  /** Processes seen but not kept in `processes` (past PROCESS_TABLE_LIMIT). */
  processes_untracked: number;
  /**
   * Ring records by type: what the kernel submitted, what reached procimage, what the kernel dropped
   * (ring full). sent = delivered when nothing was lost between kernel and user space.
   */
  kernel_records: Record<string, { sent: number; delivered: number; lost: number }>;
  /** Off-CPU time by stack, the largest first (keytime). */
  offcpu_stacks: StackTotal[];
  offcpu_stacks_distinct: number;
  /** --stack dwarf: user stacks the kernel unwound from tables, and those copied for procimage to unwind. */
  user_stacks?: { kernel: number; copied: number };
  /**
   * keytime: switch-outs whose kernel stack came from the thread's memo, and those walked (of which
   * unplaced could not be remembered); differed: PROCIMAGE_KSTACK_CHECK's memos that a walk contradicted.
   */
  kernel_stacks?: { remembered: number; walked: number; unplaced: number; differed?: number };
  /** Off-CPU time by waker, the largest first (keytime): who made each process wait. */
  wakers?: WakerTotal[];
  /** Distinct (process, waker) rows behind `wakers`. */
  wakers_distinct?: number;
  /** The longest chains of waits (A waited for B, which waited for C...), the longest first. */
  wake_chains?: WakeChain[];
  /** CPU migrations per target thread, the most first. */
  migrations?: MigrationCount[];
  /**
   * A summary made afterwards from part of the records (procimage report): what it covers, and that
   * what only the kernel counted is of the whole collection, or unknown.
   */
  partial?: string;
}

/** The summary's waker tables, chains and migrations (absent where keytime saw none). */
export function wakeSummary(c: WakeChains): Pick<SessionSummary, 'wakers' | 'wakers_distinct' | 'wake_chains' | 'migrations'> {
  const wakers = c.topWakers(SUMMARY_WAKERS), chains = c.topChains(SUMMARY_CHAINS), migrations = c.migrationCounts();
  return {
    ...(wakers.length ? { wakers, wakers_distinct: c.distinct } : {}),
    ...(chains.length ? { wake_chains: chains } : {}),
    ...(migrations.length ? { migrations } : {}),
  };
}

/** The object that declares the pi_* maps alone (bpf/shared.bpf.c). */
const SHARED_MAPS = 'shared';
const LOST_POLL_MS = 1000;
const DEFAULT_RING_BYTES = 16 << 20;
/** Longest wait at deactivation for exited threads' last context switch. */
const DYING_WAIT_MS = 200;
/** Stacks the summary lists by off-CPU time. */
const SUMMARY_STACKS = 5;
/** Rows of off-CPU time by waker, and chains, the summary lists. */
const SUMMARY_WAKERS = 10;
const SUMMARY_CHAINS = 5;
/** Ready this long after a deactivation before the C heap's free memory is handed back (tidyUp). */
const RELEASE_AFTER_MS = 1000;

interface Current {
  policy: Policy;
  sink: Sink;
  startNs: number;
  counts: Map<RecordType, number>;
  /** Ring records decoded, by enum pi_event_type. */
  delivered: Map<number, number>;
  /** pi_sent and pi_lost_type at activation: the summary reports what changed since. */
  sentBefore: Map<number, number>;
  lostBefore: Map<number, number>;
  /** keytime's kstack_memo_stats at activation (enum pi_kstack_stat), likewise. */
  kstacksBefore: Map<number, number>;
  processes: ProcessTable;
  stacks: OffCpuStacks;
  chains: WakeChains;
  timers: NodeJS.Timeout[];
  /** A cgroup or container target's: each record's thread's cgroup path (NDJSON `cgroup`). */
  cgroups?: CgroupNames;
}

export class Session {
  readonly clock = new Clock();
  /** Loaded objects by name; the core's first. */
  private readonly objects = new Map<string, BpfObject>();
  /** The core, then one collector per attached category (deduplicated). */
  private readonly collectors: Collector[] = [];
  private readonly decoders = new Map<number, Decoder>();
  /** Maps named pi_*, shared by every object (createShared makes them). */
  private readonly shared = new Map<string, BpfMap>();
  /** Kernel symbols being read after loadAsync(): no record is dispatched before they are complete. */
  private kernelReady: Promise<void> | undefined;
  /** bpf/shared.bpf.c loaded for the pi_* maps, until every object is loaded (createShared). */
  private sharedMaker: BpfObject | undefined;
  /** The policies whose programs alone were loaded (SessionOptions.policies); undefined: all were. */
  private loadedFor: readonly Policy[] | undefined;
  /** The one --stack mode the objects were loaded for (pi_stack_only); undefined: any. */
  private stackOnly: StackMode | undefined;
  private links: Link[] = [];
  /** The activation whose hooks are still being attached. */
  private activating: Promise<Activation> | undefined;
  private reader: RingReader | undefined;
  private current: Current | undefined;
  /** Totals already reported, so each `lost` record carries only what is new. */
  private readonly lostReported = new Map<string, number>();
  /** Losses seen by user space (undecodable records), as running totals. */
  private readonly userLost = new Map<string, number>();
  /** What this activation lost, for its summary. */
  private lostThisActivation = new Map<string, number>();
  /** Activations so far: the kernel's per-task state carries the number of the one that wrote it. */
  private generation = 0;
  /** Symbolizes stacks: made at load (kallsyms read ahead of need) when keytime is attached. */
  private stacks: StackResolver | undefined;
  /** The kernel's unwind tables (keytime): files' rows stay for the session, processes for an activation. */
  private tables: UnwindTables | undefined;
  /** Turns the kernel's switch records into intervals, while keytime is active. */
  private intervals: IntervalBuilder | undefined;
  /** The target's threads as the kernel had accounted them at activation, while keytime is active. */
  private quiet: QuietThreads | undefined;
  /** What the targets map, while keytime takes user stacks (see model/addrspaces.ts). */
  private sideband: Sideband | undefined;
  private releaseTimer: NodeJS.Timeout | undefined;
  /** Whether keytime has been told where __schedule lies (tellStackCaller). */
  private callerTold = false;
  /** tidyUp(), due on the next turn of the event loop after a deactivation. */
  private tidyTimer: NodeJS.Immediate | undefined;
  /** The files user stacks went through, numbered for the records' ustack_locs (one table for both symbolizers). */
  private readonly modules = new ModuleTable();
  /** Addresses to symbols for the collectors' polls; caches live as long as the session. */
  private readonly symbols = new SystemSymbolizer(this.modules);

  private constructor(readonly categories: Category[], readonly selfTgid: number) {}

  /**
   * Opens, configures and verifies every object the categories need, one after the other. Nothing is
   * attached. (loadAsync() verifies them side by side.)
   */
  static load(opts: SessionOptions): Session {
    const s = Session.create(opts);
    const ringBytes = opts.ringBytes ?? DEFAULT_RING_BYTES;
    try {
      s.createShared(ringBytes);
      for (const obj of s.openObjects(ringBytes, opts.policies)) {
        obj.load();
        mark(`load:${obj.name}`);
      }
      if (s.needsKernelSymbols) s.symbols.refreshKernel();
      mark('kallsyms');
      s.loaded();
      releaseFreeMemory(false); // what libbpf freed after parsing the kernel's BTF for each object
      mark('release');
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /**
   * load(), the objects verified side by side on libuv's pool: the verifier takes tens to hundreds of
   * ms per object, on one CPU each.
   */
  static async loadAsync(opts: SessionOptions): Promise<Session> {
    const s = Session.create(opts);
    const ringBytes = opts.ringBytes ?? DEFAULT_RING_BYTES;
    const loads: Array<Promise<void>> = [];
    try {
      s.createShared(ringBytes);
      // the core's object (keytime: the longest to verify, ~130 ms with every category) on a thread of
      // its own, the others one after another on a second: on 2 CPUs the core then has one to itself,
      // where side by side they all slowed it down; on more, still no longer than the core alone
      const [core, ...rest] = s.openObjects(ringBytes, opts.policies);
      const load = (obj: BpfObject) => obj.loadAsync().then(() => mark(`load:${obj.name}`));
      loads.push(load(core));
      let previous: Promise<unknown> = Promise.resolve();
      for (const obj of rest) loads.push(previous = previous.then(() => load(obj), () => load(obj)));
      // the first refusal, in the objects' order (as load() would report it), once none is loading
      const failed = (await Promise.allSettled(loads)).find(r => r.status === 'rejected');
      if (failed) throw failed.reason;
      s.loaded();
      // kallsyms (~50 ms, on libuv's pool) while the caller gets on with what comes before the first
      // record is read (a trace spawns its command and attaches the hooks): ready() and activate()
      // wait for it. Then what libbpf freed after parsing the kernel's BTF for each object, and the
      // kallsyms index's scratch memory: the C heap alone, JS has dropped nothing large (5 ms against 10-35)
      const symbols = s.needsKernelSymbols ? s.symbols.refreshKernelAsync() : Promise.resolve();
      const settled = s.kernelReady = symbols.then(() => {
        releaseFreeMemory(false);
        if (s.kernelReady === settled) s.kernelReady = undefined;
      });
    } catch (e) {
      await Promise.allSettled(loads); // an object is not closed while it loads
      s.close();
      throw e;
    }
    return s;
  }

  /** The session before anything is opened: the kernel's features checked, the collectors chosen. */
  private static create(opts: SessionOptions): Session {
    requireFeature('btf');
    requireFeature('ringbuf');
    requireFeature('tp_btf');
    for (const c of opts.categories) {
      const collector = COLLECTORS[c];
      if (!collector) throw new UserError(`the ${c} category (${CATEGORY_FLAG[c]}) is not implemented in this build`);
      for (const f of collector.features ?? []) requireFeature(f, `the ${c} category (${CATEGORY_FLAG[c]})`);
    }
    mark('features');
    const s = new Session([...new Set(opts.categories)], opts.selfTgid ?? process.pid);
    s.collectors.push(CORE, ...s.categories.map(c => COLLECTORS[c]!).filter(c => c !== CORE));
    for (const collector of s.collectors) for (const [type, d] of collector.decoders) s.decoders.set(type, d);
    return s;
  }

  /**
   * Opens and configures every object the collectors need, the core's first, each once; with
   * `policies`, only the programs those use are left to load.
   */
  private openObjects(ringBytes: number, policies: readonly Policy[] | undefined): BpfObject[] {
    const objs = [...new Set(this.collectors.flatMap(c => [c.object, ...c.requires ?? []]))].map(n => this.openObject(n, ringBytes));
    if (policies) {
      // after every configure(): what a collector names may depend on what its configure() found
      const used = new Set(policies.flatMap(p => this.programsUsed(p)));
      for (const obj of objs) for (const p of obj.programs()) if (p.autoload && !used.has(p.name)) p.setAutoload(false);
      this.loadedFor = policies;
      // one --stack mode for them all: the others' code is dead to the verifier (bpf/common.bpf.h
      // pi_stack_only; keytime_switch verifies ~30% fewer instructions with fp or none, ~2% with dwarf)
      const modes = new Set(policies.map(p => p.stackMode));
      if (modes.size === 1) {
        this.stackOnly = [...modes][0];
        for (const obj of objs) obj.setConst('pi_stack_only', STACK_MODES[this.stackOnly]);
      }
    }
    return objs;
  }

  /** Every program `policy` needs loaded: what it attaches and what collectors use otherwise. */
  private programsUsed(policy: Policy): string[] {
    return this.collectors.flatMap(c => [...c.programs(policy), ...c.extraPrograms?.(policy) ?? []]);
  }

  /** Resolves once the session is complete: after loadAsync(), once its kernel symbols are read. */
  async ready(): Promise<void> {
    await this.kernelReady;
  }

  /**
   * Whether kernel symbols are read at load, ahead of need (~50 ms): for the categories that name
   * kernel frames or locks; the others may never ask (then, at the first question). Read after every
   * object is loaded: kallsyms lists their programs, whose frames a kernel stack may hold.
   */
  private get needsKernelSymbols(): boolean {
    return this.categories.some(c => KERNEL_SYMBOLS.includes(c));
  }

  /** After every object is loaded: what else the session needs ready before an activation. */
  private loaded(): void {
    // shared.bpf.c made the shared maps; the objects that use them hold them too (the core declares
    // every one): they lend them from now on, and the maker, with its parsed ELF, goes
    const owners = [...this.shared.keys()].map(name => [name, [...this.objects.values()].find(o => o.mapNames().includes(name))] as const);
    if (owners.every(([, o]) => o)) {
      for (const [name, o] of owners) this.shared.set(name, o!.map(name));
      this.sharedMaker?.close();
      this.sharedMaker = undefined;
    }
    // ahead of need too: mapping the ring and allocating the batch buffers take milliseconds
    this.reader = new RingReader(this.sharedMap('pi_events'), MAX_RECORD);
    if (this.categories.includes('keytime')) {
      this.stacks = new StackResolver(this.clock, () => this.symbols.kernel, this.modules);
      const keytime = this.objects.get('keytime')!;
      this.tables = new UnwindTables(keytime.map('unwind_rows'), keytime.map('unwind_procs'), unwindCheck());
    }
    mark('ring');
  }

  /**
   * One policy, one ring, one set of counters: the maps named pi_* exist once, shared by every
   * object. They are made first, by bpf/shared.bpf.c (those maps alone: a few ms, the kernel's BTF
   * not even parsed), so that every object reuses them and none has to wait for another's
   * verification.
   */
  private createShared(ringBytes: number): void {
    const maker = this.sharedMaker = BpfObject.open(paths.bpfObject(SHARED_MAPS));
    for (const p of maker.programs()) p.setAutoload(false);
    const names = maker.mapNames();
    for (const m of names) if (!m.startsWith('pi_')) maker.setAutocreate(m, false);
    maker.setMaxEntries('pi_events', ringBytes);
    maker.setMaxEntries('pi_follow', Math.ceil(pidMax() / 64));
    maker.load();
    for (const m of names) if (m.startsWith('pi_')) this.shared.set(m, maker.map(m));
    mark('shared');
  }

  /** Opens and configures one object (nothing loaded yet), its pi_* maps the shared ones. */
  private openObject(name: string, ringBytes: number): BpfObject {
    const obj = BpfObject.open(paths.bpfObject(name));
    this.objects.set(name, obj);
    obj.setConst('pi_self_tgid', this.selfTgid);
    // what no policy of this session can ask for is dead code to the verifier (bpf/common.bpf.h)
    obj.setConst('pi_loaded', this.categories.reduce((m, c) => m | CATEGORY_BIT[c], 0));
    obj.setConst('pi_wake_bytes', wakeBytes(ringBytes));
    if (name === 'keytime' && unwindCheck()) obj.setConst('pi_unwind_check', 1);
    if (name === 'keytime' && kstackCheck()) obj.setConst('pi_kstack_check', 1);
    // a bounded walk the verifier checks once through bpf_loop, not once per step (bpf/common.bpf.h)
    obj.setConst('pi_bpf_loop', supported('bpf_loop') ? 1 : 0);
    for (const c of this.collectors) if (c.object === name) c.configure?.(obj);
    for (const m of obj.mapNames().filter(n => n.startsWith('pi_'))) {
      const shared = this.shared.get(m);
      if (!shared) throw new Error(`${name} declares a shared map ${m} that ${SHARED_MAPS}.bpf.c does not`);
      obj.reuseMap(m, shared);
    }
    mark(`configure:${name}`);
    return obj;
  }

  /** keytime's counts of kernel stacks remembered and walked (bpf/kmemo.bpf.h), since load. */
  private kstackStats(): Map<number, number> {
    const obj = this.objects.get('keytime');
    return obj?.mapNames().includes('kstack_memo_stats') ? readPerType(obj.map('kstack_memo_stats')) : new Map();
  }

  /**
   * Tells keytime where the scheduler's tracepoint caller (__schedule) lies, once kallsyms is read:
   * its kernel stack memo keeps frames from there on (bpf/kmemo.bpf.h). Until then, or without
   * kallsyms, every switch-out walks its kernel stack as without the memo. Once per session: the
   * kernel's own text does not move.
   */
  private tellStackCaller(): void {
    const obj = this.objects.get('keytime');
    if (this.callerTold || !obj || !obj.mapNames().includes('kstack_caller')) return;
    this.callerTold = true;
    const k = this.symbols.kernel;
    const caller = k.range('__schedule');
    if (!caller) return;
    // a kernel without it (or without CONFIG_RANDOMIZE_KSTACK_OFFSET) places every frame from the program's
    const random = k.range('do_syscall_64') ?? { lo: 0n, hi: 0n };
    const v = Buffer.alloc(32);
    v.writeBigUInt64LE(caller.lo, 0);
    v.writeBigUInt64LE(caller.hi, 8);
    v.writeBigUInt64LE(random.lo, 16);
    v.writeBigUInt64LE(random.hi, 24);
    obj.map('kstack_caller').update(new Uint8Array(4), v);
  }

  private sharedMap(name: string): BpfMap {
    const m = this.shared.get(name);
    if (!m) throw new Error(`no object declares shared map ${name}`);
    return m;
  }

  private objectOf(c: Collector): BpfObject { return this.objects.get(c.object)!; }

  /** The loaded object that has a program of this name. */
  private programOwner(program: string): BpfObject {
    for (const obj of this.objects.values()) if (obj.programs().some(p => p.name === program)) return obj;
    throw new Error(`no loaded object has a program ${program}`);
  }

  /** Names of every loaded program, by object. */
  programs(): Array<{ object: string; program: string }> {
    return [...this.objects].flatMap(([object, obj]) => obj.programs().filter(p => p.autoload)
      .map(p => ({ object, program: p.name })));
  }

  /**
   * Pins every program and map under dir (progs/<name>, maps/<name>; keytime.rodata becomes
   * maps/keytime_rodata), so bpftool and other tools can inspect them:
   * `bpftool prog show pinned DIR/progs/keytime_exec`. pinned hears of each pin as it is made, so
   * that what a failure half-way leaves behind can be unpinned too.
   */
  pin(dir: string, pinned: (path: string) => void = () => {}): void {
    mkdirSync(join(dir, 'progs'), { recursive: true, mode: 0o700 });
    mkdirSync(join(dir, 'maps'), { recursive: true, mode: 0o700 });
    for (const t of this.pinTargets(dir)) {
      t.pin();
      pinned(t.path);
    }
  }

  /** The paths pin(dir) pins, before it does. */
  pinPaths(dir: string): string[] {
    return [...this.pinTargets(dir)].map(t => t.path);
  }

  private *pinTargets(dir: string): Generator<{ path: string; pin: () => void }> {
    const pinnedMaps = new Set<string>();
    for (const obj of this.objects.values()) {
      for (const p of obj.programs()) {
        const path = join(dir, 'progs', p.name);
        if (p.autoload) yield { path, pin: () => p.pin(path) };
      }
      for (const name of obj.mapNames()) {
        if (pinnedMaps.has(name)) continue; // shared pi_* maps: once, from the object that made them
        pinnedMaps.add(name);
        const path = join(dir, 'maps', name.replace(/\./g, '_')); // bpffs refuses '.' in names
        yield { path, pin: () => obj.map(name).pin(path) };
      }
    }
  }

  get active(): Policy | undefined { return this.current?.policy; }

  /**
   * An activation may follow (a ctl connected): collectors start what it would wait for. Resolves,
   * when they are done, with what they attached meanwhile (nothing stays attached).
   */
  async prepare(): Promise<string[]> {
    if (this.current || !this.reader) return []; // active, or closed
    const started: Array<Promise<string | undefined>> = [];
    for (const c of this.collectors) {
      try {
        const p = c.prepare?.(this.objectOf(c));
        if (p) started.push(p.catch(() => undefined));
      } catch { /* only ever a head start: the activation does the work itself */ }
    }
    return (await Promise.all(started)).filter((t): t is string => t !== undefined);
  }

  /**
   * Starts collecting: writes the policy, attaches what it needs, reads the ring into the sink that
   * makeSink returns for the activation's start instant (ns since the clock's epoch). Resolves once
   * every hook is attached; deactivate() waits for that.
   */
  async activate(policy: Policy, makeSink: (startNs: number) => Sink): Promise<Activation> {
    const a = this.activateNow(policy, makeSink);
    this.activating = a;
    try {
      return await a;
    } finally {
      if (this.activating === a) this.activating = undefined;
    }
  }

  private async activateNow(policy: Policy, makeSink: (startNs: number) => Sink): Promise<Activation> {
    validatePolicy(policy, possibleCpus());
    // the short intervals counted in the kernel need the iterator that tells, at the end, where each
    // thread stands: without it every interval goes one by one
    if (policy.offcpuMinNs && policy.categories.includes('keytime') && !supported('iter_task')) policy = { ...policy, offcpuMinNs: 0 };
    const missing = policy.categories.filter(c => !this.categories.includes(c));
    if (missing.length) {
      throw new UserError(`${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not attached (attached: ` +
        `${this.categories.join(', ')}); restart attach with ${missing.map(c => CATEGORY_FLAG[c]).join(' ')} or -a`);
    }
    if (this.current) throw new UserError('already active: deactivate first (ctl -d)');
    if (this.loadedFor) {
      const unloaded = this.programsUsed(policy).filter(p => !this.programOwner(p).program(p).autoload);
      if (unloaded.length) throw new Error(`${unloaded.join(', ')} not loaded: the session was loaded for other policies`);
      if (this.stackOnly !== undefined && policy.stackMode !== this.stackOnly) {
        throw new Error(`--stack ${policy.stackMode}: the session was loaded for --stack ${this.stackOnly} alone`);
      }
    }
    const t = policy.target;
    if (!policy.myproc && ((t.kind === 'tgid' && t.tgid === this.selfTgid) || (t.kind === 'pid' && t.pid === this.selfTgid))) {
      throw new UserError(`${t.kind === 'tgid' ? t.tgid : t.pid} is procimage's own process: add -m to trace it`);
    }

    // First, on libuv's pool: the links that wait in the kernel (a uprobe's RCU grace period, 8-16 ms
    // here, was most of -l's activation) while this thread attaches the rest. Their programs do
    // nothing until the policy below is written.
    const extra = this.startExtra(policy);
    const startNs = this.clock.now();
    const sink = makeSink(startNs);
    const policyMap = this.sharedMap('pi_policy');
    const zero = Buffer.alloc(4);
    for (const c of this.collectors) c.reset?.(this.objectOf(c), policy, n => this.objects.get(n) ?? missingObject(n));
    this.symbols.forgetProcesses();
    if (t.kind === 'tgid') this.follow(t.tgid);
    policyMap.update(zero, encodePolicy(policy, ++this.generation, this.clock.toAbsolute(startNs)));
    let collectingNs = 0n;
    try {
      this.current = {
        policy, sink, startNs, counts: new Map(), processes: new ProcessTable(), stacks: new OffCpuStacks(), chains: new WakeChains(), timers: [],
        delivered: new Map(), cgroups: isMemberTarget(t) ? new CgroupNames() : undefined,
        sentBefore: readPerType(this.sharedMap('pi_sent')), lostBefore: readPerType(this.sharedMap('pi_lost_type')),
        kstacksBefore: this.kstackStats(),
      };
      if (policy.categories.includes('keytime')) {
        this.intervals = new IntervalBuilder(policy, this.stacks!, startNs);
        this.startUnwinding(policy);
      }
      this.attach(policy);
      // after the hooks that keep them (fork, migration): the threads in the cgroup now
      if (isMemberTarget(t)) this.followMembers(t, policy.myproc);
      mark('attach');
      if (extra) {
        const cur = this.current;
        this.links.push(...await extra.links);
        // close() while waiting (the process is ending) detached the rest: these too
        if (this.current !== cur) {
          this.detach();
          throw new Error('the session was closed while activating');
        }
      }
      collectingNs = process.hrtime.bigint();
      mark('attach-extra');
      // every switch from now on is recorded: what the kernel accounted so far tells, at the end,
      // which target threads made none (QuietThreads)
      if (this.intervals) this.quiet = QuietThreads.atActivation(policy.target);
      // After the hooks: opening the side-band can take 5-15 ms (the first task-bound perf event in a
      // second turns on the scheduler's perf hooks, a code patch on every CPU), and it is needed only
      // to name user frames. The ring is read from then on, so no record is dispatched before it is
      // open, and what the target maps meanwhile is in /proc, read after the side-band is open
      // (openSideband); the kernel holds what the hooks recorded so far.
      if (this.intervals && policy.stackMode !== 'none') this.sideband = this.openSideband(policy);
      if (this.kernelReady) {
        // kallsyms, read since loadAsync() returned: no record is dispatched before it is complete
        // (the kernel holds them; a trace's command still waits behind its gate)
        const cur = this.current;
        await this.kernelReady;
        mark('kallsyms-wait');
        if (this.current !== cur) throw new Error('the session was closed while activating');
      }
      // only for keytime, whose switch-outs take kernel stacks: told without it (trace -S), the kernel's
      // symbols were read at the activation for nothing (~80 ms of trace -S's start-up)
      if (policy.categories.includes('keytime')) this.tellStackCaller();
      this.reader!.start(b => this.dispatch(b), e => this.fail(e), () => this.current?.sink.backedUp?.());
      const ctx = this.pollContext(this.current, false);
      for (const c of this.collectors) c.start?.({ ...ctx, obj: this.objectOf(c) });
    } catch (e) {
      // links still being made are closed once made
      if (extra) await extra.links.then(ls => Promise.all(ls.map(l => l.closeAsync())), () => undefined);
      if (!this.reader) throw e; // closed meanwhile: close() freed the rest
      this.detach();
      policyMap.update(zero, INACTIVE_POLICY);
      if (t.kind === 'tgid' || isMemberTarget(t)) this.unfollowAll();
      void this.reader?.stop();
      this.current = undefined;
      this.intervals = undefined;
      this.quiet = undefined;
      throw e;
    }
    const cur = this.current;
    cur.timers.push(setInterval(() => this.reportLost(), LOST_POLL_MS), setInterval(() => this.poll(false), policy.intervalSec * 1000));
    for (const timer of cur.timers) timer.unref();
    const notes = this.collectors.filter(c => policy.categories.includes(c.category)).flatMap(c => c.notes?.(policy) ?? []);
    return { policy, hooks: [...new Set(this.links.map(l => l.program))], collectingNs, notes };
  }

  /**
   * With --stack dwarf the kernel unwinds from tables: the target's now (before its first switch is
   * recorded), every other process's when its first stack had to be copied (StackResolver). With
   * dwarf-copy and PROCIMAGE_UNWIND_CHECK=1 (a developer's check) the kernel sends its frames beside
   * every copy, and the two unwinders are compared.
   */
  private startUnwinding(policy: Policy): void {
    const check = policy.stackMode === 'dwarf-copy' && unwindCheck();
    const tables = policy.stackMode === 'dwarf' || check ? this.tables : undefined;
    this.stacks!.tables = tables;
    this.stacks!.check = check ? { compared: 0, same: 0, deeper: 0, differ: 0, notInKernel: 0, examples: [] } : undefined;
    const t = policy.target;
    const tgid = t.kind === 'tgid' ? t.tgid : t.kind === 'pid' ? tgidOf(t.pid) : undefined;
    if (tables && tgid !== undefined) tables.want(tgid);
  }

  /**
   * perf's mmap side-band for the targets and everything they start (the whole system for "every
   * thread"), so stacks of processes that exit before they are read still symbolize. Targets that
   * exist now are read from /proc while they certainly live. Without perf events, stacks are
   * symbolized from /proc alone: said once, not fatal.
   */
  private openSideband(policy: Policy): Sideband | undefined {
    const t = policy.target;
    if (t.kind === 'cpu') return undefined; // idle tasks have no user stacks
    const tgid = t.kind === 'tgid' ? t.tgid : t.kind === 'pid' ? tgidOf(t.pid) : undefined;
    let tids: number[] = [];
    if (t.kind === 'pid') tids = [t.pid];
    else if (t.kind === 'tgid') tids = threadsOf(t.tgid);
    if (tids.length * possibleCpus() > MAX_SIDEBAND_EVENTS) tids = []; // too many events: follow the system
    let sb: Sideband | undefined;
    try {
      sb = Sideband.open(tids, possibleCpus());
    } catch (e) {
      process.emitWarning(`no mmap side-band (${(e as Error).message}): stacks of processes that exit quickly may not symbolize`);
    }
    // what it maps from now on is in the side-band; what it had, read now (in this order: nothing between)
    if (tgid !== undefined) this.stacks!.spaces.seed(tgid);
    return sb;
  }

  /** Attaches the union of what every collector names by program: a program two of them want, once. */
  private attach(policy: Policy): void {
    const wanted = new Set(this.collectors.flatMap(c => c.programs(policy)));
    for (const p of wanted) this.links.push(this.programOwner(p).program(p).attach());
  }

  /** Starts every collector's attachExtra (see Collector.attachExtra); undefined when none has one. */
  private startExtra(policy: Policy): { links: Promise<Link[]> } | undefined {
    const started = this.collectors.filter(c => c.attachExtra).map(c => c.attachExtra!(policy, this.objectOf(c)));
    if (!started.length) return undefined;
    const links = Promise.allSettled(started).then(async made => {
      const ok = made.flatMap(r => (r.status === 'fulfilled' ? r.value : []));
      const failed = made.find(r => r.status === 'rejected');
      if (!failed) return ok;
      await Promise.all(ok.map(l => l.closeAsync()));
      throw failed.reason;
    });
    links.catch(() => undefined); // handled where it is awaited; not unhandled meanwhile
    return { links };
  }

  /** pi_follow: a bitmap of tgids, 64 to a word. */
  private followMap() { return this.sharedMap('pi_follow').typed(Codec.u32, Codec.u64); }

  /** Sets the follow bit of the target process (the kernel adds its children as they fork). */
  private follow(tgid: number): void {
    const m = this.followMap(), word = Math.floor(tgid / 64);
    m.update(word, (m.lookup(word) ?? 0n) | (1n << BigInt(tgid % 64)));
  }

  /**
   * A cgroup or container target: the bits of its threads now (bpf/cgroup.bpf.h keeps them from then
   * on), set in one batch, then each thread's cgroup read again and the bit of one that has moved out
   * meanwhile cleared (a move after that is the kernel hook's).
   */
  private followMembers(t: Extract<Target, { kind: 'cgroup' | 'containers' }>, myproc: boolean): void {
    const mount = t.kind === 'cgroup' ? cgroup2Mount() : undefined;
    let tids = t.kind === 'cgroup' ? (mount ? threadsUnder(join(mount, t.path)) : []) : containerThreads();
    if (!myproc) {
      const own = new Set(threadsOf(this.selfTgid));
      tids = tids.filter(tid => !own.has(tid));
    }
    const words = new Map<number, bigint>();
    for (const tid of tids) words.set(Math.floor(tid / 64), (words.get(Math.floor(tid / 64)) ?? 0n) | (1n << BigInt(tid % 64)));
    const m = this.followMap();
    m.updateBatch([...words].map(([w, bits]) => [w, (m.lookup(w) ?? 0n) | bits] as const));
    const still = (tid: number) => {
      if (t.kind === 'containers') { const ns = cgroupNamespaceOf(tid); return ns !== undefined && ns !== INIT_CGROUP_NS; }
      const cg = cgroupOf(tid);
      return cg !== undefined && cgroupUnder(cg, t.path);
    };
    for (const tid of tids) {
      if (still(tid)) continue;
      const w = Math.floor(tid / 64);
      m.update(w, (m.lookup(w) ?? 0n) & ~(1n << BigInt(tid % 64)));
    }
  }

  /**
   * Clears every follow bit still set (processes still alive at deactivation): the words that have
   * one are zeroed in one batch (an array's entries cannot be deleted, only overwritten).
   */
  private unfollowAll(): void {
    const m = this.followMap();
    m.updateBatch(m.entries(8192).filter(([, bits]) => bits !== 0n).map(([word]) => [word, 0n] as const));
  }

  private detach(): void {
    for (const l of this.links) l.close();
    this.links = [];
  }

  /**
   * At deactivation, first: closes the links that can no longer run, those of a process that has
   * ended entirely (its /proc entry gone: every thread of it has exited and it was reaped; a pid
   * used again is conservatively taken for it). A uprobe_multi link is run only by its process's
   * threads, so none can still be running it or run it again, and no record of it can come after
   * the final drain. Releasing one waits in the kernel for RCU grace periods (~70 ms for lock's
   * two, issue 16): that now goes on beside the drain, the final poll and the summary instead of
   * before them. trace's command has been reaped by then (its usual end). Resolves once released.
   */
  private releaseEnded(): Promise<unknown> {
    const gone = new Map<number, boolean>();
    const ended = (l: Link) => l.process !== undefined &&
      (gone.get(l.process) ?? gone.set(l.process, !existsSync(`/proc/${l.process}`)).get(l.process)!);
    const released: Array<Promise<void>> = [], kept: Link[] = [];
    for (const l of this.links) {
      if (ended(l)) {
        released.push(l.closeAsync());
      } else {
        kept.push(l);
        released.push(l.closeSomeAsync(ended)); // a set's (lock's exec follower): those of ended processes
      }
    }
    this.links = kept;
    return Promise.all(released);
  }

  /** detach(), the links closed side by side off the event loop: some take a grace period each. */
  private async detachAsync(): Promise<void> {
    const links = this.links;
    this.links = [];
    await Promise.all(links.map(l => l.closeAsync()));
  }

  /**
   * Hands a record to the collectors that watch records, the process table and the sink; first, to
   * the sink alone, a `module` record for each file its user stack names that none went out for yet.
   */
  private emit(cur: Current, r: ProcRecord): void {
    const modules = this.modules.before(r);
    if (modules) {
      for (const m of modules) cur.sink.write(m);
      cur.counts.set('module', (cur.counts.get('module') ?? 0) + modules.length);
    }
    cur.counts.set(r.type, (cur.counts.get(r.type) ?? 0) + 1);
    if (cur.cgroups && r.pid && r.type !== 'module' && r.cgroup === undefined) r.cgroup = cur.cgroups.of(r.pid);
    cur.processes.observe(r);
    if (this.tables && this.stacks?.tables) this.tablesFor(r);
    this.intervals?.observe(r);
    if (r.type === 'offcpu' || r.type === 'offcpu_agg') cur.stacks.observe(r);
    cur.chains.observe(r);
    for (const c of this.collectors) c.observe?.(r);
    cur.sink.write(r);
  }

  private dispatch(b: Batch): void {
    const cur = this.current;
    if (!cur) return;
    // what was mapped before these records were taken is in the side-band rings by now
    if (this.sideband) this.stacks!.spaces.add(this.sideband.read());
    forEachRecord(b, (off, len) => {
      const type = eventType(b, off);
      cur.delivered.set(type, (cur.delivered.get(type) ?? 0) + 1);
      const decode = this.decoders.get(type);
      const r = decode?.(b, off, len, this.clock);
      if (r === null) return; // taken in by its collector, nothing to output
      if (!r) {
        this.userLost.set('unknown_type', (this.userLost.get('unknown_type') ?? 0) + 1);
        return;
      }
      if (!isRaw(r)) this.emit(cur, r);
      else if (this.intervals) for (const out of this.intervals.process(r)) this.emit(cur, out);
    });
    cur.sink.flush?.();
  }

  /** In-kernel aggregates now, without handing them to the sinks (for a scrape); [] when ready. */
  snapshot(): ProcRecord[] {
    const cur = this.current;
    if (!cur) return [];
    const ctx = { ...this.pollContext(cur, false), snapshot: true };
    return this.collectors.flatMap(c => c.poll ? c.poll({ ...ctx, obj: this.objectOf(c) }) : []);
  }

  /** What the kernel measured of each loaded program (zero unless run statistics are on). */
  programStats(): Array<{ program: string; runTimeNs: number; runs: number }> {
    return [...this.objects.values()].flatMap(obj => obj.programs().filter(p => p.autoload)
      .map(p => ({ program: p.name, ...p.runStats() })));
  }

  /** Reads every collector's in-kernel aggregates into records. */
  private poll(final: boolean): void {
    const cur = this.current;
    if (!cur) return;
    cur.cgroups?.tick();
    const ctx = this.pollContext(cur, final);
    for (const c of this.collectors) {
      if (!c.poll) continue;
      for (const r of c.poll({ ...ctx, obj: this.objectOf(c) })) this.emit(cur, r);
    }
    this.pollAggregates(cur, ctx.now);
    cur.sink.flush?.();
  }

  /** keytime's short off-CPU intervals counted in the kernel since the last poll (--offcpu-min). */
  private pollAggregates(cur: Current, now: number): void {
    if (!this.intervals || !cur.policy.offcpuMinNs) return;
    for (const r of this.intervals.pollAggregates(this.objects.get('keytime')!.map('offcpu_agg'), now)) this.emit(cur, r);
  }

  /**
   * Where each thread keytime followed stands (the iterator keytime_tasks), at deactivation; undefined
   * when every switch sent its records (--offcpu-min 0), which then tell it.
   */
  private tasksNow(cur: Current): { now: TaskNow[]; generation: number } | undefined {
    if (!this.intervals || !cur.policy.offcpuMinNs) return undefined;
    const link = this.objects.get('keytime')!.program('keytime_tasks').attach();
    try {
      return { now: decodeTasksNow(readIter(link), this.clock), generation: this.generation };
    } finally {
      link.close();
    }
  }

  private pollContext(cur: Current, final: boolean): PollContext {
    return {
      obj: this.objectOf(CORE), object: (n: string) => this.objects.get(n) ?? missingObject(n),
      clock: this.clock, policy: cur.policy, now: this.clock.now(), startNs: cur.startNs, final, snapshot: false,
      symbols: this.symbols, cgroups: cur.cgroups,
    };
  }

  private fail(e: Error): void {
    process.emitWarning(`ring buffer reader: ${e.message}`);
  }

  /** Emits a `lost` record for each reason whose count grew since the last report. */
  private reportLost(): void {
    const cur = this.current;
    if (!cur || !this.reader) return;
    const totals = readKernelLost(this.sharedMap('pi_lost'));
    totals.set('oversize', this.reader.oversize);
    for (const [k, v] of this.userLost) totals.set(k, v);
    for (const [reason, total] of totals) {
      const delta = total - (this.lostReported.get(reason) ?? 0);
      if (delta <= 0) continue;
      this.lostReported.set(reason, total);
      const r: LostRecord = { type: 'lost', ts_ns: this.clock.now(), pid: 0, tgid: 0, comm: '', reason, count: delta };
      this.emit(cur, r);
      this.lostThisActivation.set(reason, (this.lostThisActivation.get(reason) ?? 0) + delta);
    }
    cur.sink.flush?.();
  }

  /**
   * Back to the ready state: detaches every hook, then hands over everything already in the ring,
   * the last aggregates and the final lost counts, so nothing recorded is lost. Returns what the
   * activation saw.
   */
  async deactivate(): Promise<SessionSummary | undefined> {
    while (this.activating) await this.activating.catch(() => undefined); // hooks still being attached
    const cur = this.current;
    if (!cur) return undefined;
    const stoppedNs = this.clock.now(); // collection ends now; what follows is handing over and cleaning up
    const releasing = this.releaseEnded();
    for (const timer of cur.timers) clearInterval(timer);
    // a thread that exited makes its last switch after sched_process_exit, possibly after its parent
    // was told (trace -- CMD ends then, on waitpid, maybe before the exit record is even read): hand
    // over what the ring holds, then give the dying a moment, hooks still on, so their last interval
    // is closed. The hooks still write meanwhile: on every thread of a loaded machine they may fill
    // the ring as fast as it is read, so these drains read at most one ring's worth in all (a
    // deactivation chased the ring for minutes, unanswered); the drain after the detach takes the rest.
    await this.reader!.stop();
    const dispatch = (b: Batch) => this.dispatch(b);
    let budget = this.reader!.ringBytes;
    budget -= this.reader!.drainNow(dispatch, budget);
    mark('drain');
    for (let waited = 0; this.intervals?.dying.size && waited < DYING_WAIT_MS && budget > 0; waited += 2) {
      await new Promise(r => setTimeout(r, 2));
      budget -= this.reader!.drainNow(dispatch, budget);
    }
    mark('dying');
    await this.detachAsync();
    mark('detach');
    this.sharedMap('pi_policy').update(Buffer.alloc(4), INACTIVE_POLICY);
    this.reader!.drainNow(dispatch);
    const endNs = this.clock.now();
    // the last short intervals counted, and where each thread stands (both tell threads apart from
    // the quiet ones, which made no switch at all)
    this.pollAggregates(cur, endNs);
    const ongoing = this.intervals?.finish(endNs, this.tasksNow(cur)) ?? [];
    const quiet = this.intervals && this.quiet?.finish(this.intervals.seen, cur.policy.keytimeMode === 1, endNs);
    for (const r of [...ongoing, ...quiet ?? []]) this.emit(cur, r);
    this.intervals = undefined;
    this.quiet = undefined;
    this.sideband?.close();
    this.sideband = undefined;
    const unwound = this.stacks && { ...this.stacks.unwound };
    this.stopUnwinding();
    this.poll(true);
    this.reportLost();
    this.reader!.release(); // the ready state maps no ring (16 MiB of RSS); the next activation maps it again
    mark('final-poll');
    if (cur.policy.target.kind === 'tgid' || isMemberTarget(cur.policy.target)) this.unfollowAll();
    const sent = readPerType(this.sharedMap('pi_sent')), lost = readPerType(this.sharedMap('pi_lost_type'));
    const kernel: SessionSummary['kernel_records'] = {};
    for (const t of new Set([...sent.keys(), ...lost.keys(), ...cur.delivered.keys()])) {
      const k = {
        sent: (sent.get(t) ?? 0) - (cur.sentBefore.get(t) ?? 0), delivered: cur.delivered.get(t) ?? 0,
        lost: (lost.get(t) ?? 0) - (cur.lostBefore.get(t) ?? 0),
      };
      if (k.sent || k.delivered || k.lost) kernel[eventTypeName(t)] = k;
    }
    const summary: SessionSummary = {
      policy: cur.policy,
      duration_ns: stoppedNs - cur.startNs,
      records: Object.fromEntries(cur.counts),
      lost: Object.fromEntries(this.lostThisActivation),
      processes: cur.processes.all(),
      processes_untracked: cur.processes.untracked,
      kernel_records: kernel,
      offcpu_stacks: cur.stacks.top(SUMMARY_STACKS),
      offcpu_stacks_distinct: cur.stacks.distinct,
      ...wakeSummary(cur.chains),
      ...(unwound && unwound.kernel + unwound.copied > 0 ? { user_stacks: unwound } : {}),
      ...kernelStacks(this.kstackStats(), cur.kstacksBefore),
    };
    this.lostThisActivation = new Map();
    this.current = undefined;
    // every stack is symbolized by now: what was read for the activation's processes (their address
    // spaces, the files' symbol and debug tables) is freed, not held through the ready state (and a
    // pid seen by the next activation may be another process)
    this.stacks?.forget();
    this.symbols.forgetProcesses();
    this.modules.clear(); // the next activation writes its module records anew (with new ids)
    mark('summary');
    await releasing; // every hook is detached once deactivate() resolves, as before
    mark('released');
    // on the next turn of the event loop: a one-shot trace closes the session first and never starts
    // it (the kallsyms read is one job on libuv's pool, which the process's exit would wait for).
    // After the await above, which is a turn of the event loop of its own
    this.tidyTimer = setImmediate(() => void this.tidyUp());
    return summary;
  }

  /**
   * After a deactivation, off the next activation's path: the collectors empty what the kernel still
   * holds of it; modules and BPF programs may have come and gone, so kallsyms is read again (without holding the event loop); then, once the daemon has been
   * ready for a while, the C heap's free memory goes back to the system (glibc keeps what libdwfl
   * freed for reuse, in the RSS). That takes a full collection (a few ms to tens of ms, the event loop
   * held): not while an activation could be arriving right behind this one. A one-shot trace closes
   * the session before either starts (the timer is unref'd; main() ends the process).
   */
  private async tidyUp(): Promise<void> {
    for (const c of this.collectors) if (!this.current) c.tidy?.(this.objectOf(c));
    if (this.categories.some(c => KERNEL_SYMBOLS.includes(c))) await this.symbols.refreshKernelAsync();
    clearTimeout(this.releaseTimer);
    this.releaseTimer = setTimeout(() => { if (!this.current) releaseFreeMemory(); }, RELEASE_AFTER_MS).unref();
  }

  /**
   * A new process or image gets its tables at once: the kernel's fork copies the parent's only if it
   * had them, an exec drops them. (A stack copied for want of them asks too: StackResolver.)
   */
  private tablesFor(r: ProcRecord): void {
    if (r.type === 'fork' && !r.thread) this.tables!.want(r.child_tgid);
    else if (r.type === 'exec') {
      this.tables!.execd(r.tgid);
      this.tables!.want(r.tgid);
    }
  }

  private stopUnwinding(): void {
    const c = this.stacks?.check;
    if (c) {
      process.stderr.write(`unwind check: ${c.compared} stacks compared: ${c.same} same, ${c.deeper} deeper in the kernel, ${c.differ} differ; ${c.notInKernel} not unwound in the kernel\n`);
      for (const e of c.examples) process.stderr.write(`  ${e}\n`);
    }
    if (this.stacks) {
      this.stacks.tables = this.stacks.check = undefined;
      this.stacks.unwound.kernel = this.stacks.unwound.copied = 0;
    }
    this.tables?.clearProcesses();
  }

  /** What the user-stack unwinder holds (keytime only): none of it outlives an activation. */
  unwinderUsage(): ReturnType<StackResolver['usage']> | undefined {
    return this.stacks?.usage();
  }

  /** Frees everything: links, reader, objects (pins, if any, stay until unpinned). */
  close(): void {
    clearImmediate(this.tidyTimer);
    clearTimeout(this.releaseTimer);
    this.detach();
    this.sideband?.close();
    this.sideband = undefined;
    for (const timer of this.current?.timers ?? []) clearInterval(timer);
    this.current = undefined;
    try { this.reader?.close(); } catch { /* still draining: the process is ending anyway */ }
    this.reader = undefined;
    for (const obj of this.objects.values()) obj.close();
    this.objects.clear();
    this.sharedMaker?.close();
    this.sharedMaker = undefined;
    this.stacks?.close();
    this.stacks = undefined;
  }
}

/** Categories whose records name kernel frames (off-CPU stacks) or kernel locks. */
const KERNEL_SYMBOLS: readonly Category[] = ['keytime', 'lock'];

/** perf events the side-band may open for named threads (threads x CPUs) before it follows the system. */
const MAX_SIDEBAND_EVENTS = 4096;

function missingObject(name: string): never {
  throw new Error(`object ${name} is not loaded: add it to the collector's requires`);
}

function pidMax(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) || 4194304;
  } catch {
    return 4194304;
  }
}

/** PROCIMAGE_UNWIND_CHECK=1: a developer's check of the kernel's unwinder against libdwfl (startUnwinding). */
/** The summary's kernel_stacks: what the switch-outs' kernel stacks cost in this activation. */
function kernelStacks(now: Map<number, number>, before: Map<number, number>): Pick<SessionSummary, 'kernel_stacks'> {
  const d = (i: number) => (now.get(i) ?? 0) - (before.get(i) ?? 0);
  const k = {
    remembered: d(pi_kstack_stat.PI_KSTACK_REMEMBERED), walked: d(pi_kstack_stat.PI_KSTACK_WALKED),
    unplaced: d(pi_kstack_stat.PI_KSTACK_UNPLACED),
    ...(kstackCheck() ? { differed: d(pi_kstack_stat.PI_KSTACK_DIFFERED) } : {}),
  };
  return k.remembered + k.walked > 0 ? { kernel_stacks: k } : {};
}

/** PROCIMAGE_KSTACK_CHECK=1: every remembered kernel stack is walked too and compared (bpf/kmemo.bpf.h). */
function kstackCheck(): boolean {
  return process.env.PROCIMAGE_KSTACK_CHECK === '1';
}

function unwindCheck(): boolean {
  return process.env.PROCIMAGE_UNWIND_CHECK === '1';
}
