// A session: the BPF objects of the chosen categories, loaded and verified once (the slow part, done
// ahead of need), then activated and deactivated as often as asked, each time attaching only the
// hooks the policy needs. In the ready state no program is attached to anything: it costs nothing.
import { readFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  BpfObject, RingReader, forEachRecord, requireFeature, possibleCpus,
  type Batch, type BpfMap, type Link,
} from '../bpf/index.js';
import { Clock } from '../collect/clock.js';
import type { Collector, Decoder } from '../collect/collector.js';
import { eventType } from '../collect/event.js';
import { pi_exec_event } from '../collect/layout.js';
import { readKernelLost } from '../collect/lost.js';
import { CATEGORY_FLAG, INACTIVE_POLICY, encodePolicy, validatePolicy, type Category, type Policy } from '../collect/policy.js';
import type { LostRecord, ProcRecord, RecordType } from '../collect/records.js';
import { COLLECTORS, CORE } from '../collect/registry.js';
import { UserError } from '../sys/errors.js';
import { paths } from '../sys/paths.js';
import { ProcessTable, type ProcessInfo } from './processes.js';

/** Where records go: text, NDJSON, metrics... (src/output). */
export interface Sink {
  write(r: ProcRecord): void;
  /** Called after each batch of records: write out what was buffered. */
  flush?(): void;
}

export interface SessionOptions {
  /** What the user attached (`attach -k -S`, `trace -a`...). */
  categories: Category[];
  /** Ring buffer bytes, a power of two: sized for the longest event-loop stall. */
  ringBytes?: number;
  /** procimage's own tgid, excluded from "every thread" unless -m. */
  selfTgid?: number;
}

export interface Activation {
  policy: Policy;
  /** Programs attached, by name. */
  hooks: string[];
  /** CLOCK_MONOTONIC ns when collection was running (links attached). */
  collectingNs: bigint;
}

export interface SessionSummary {
  policy: Policy;
  duration_ns: number;
  records: Partial<Record<RecordType, number>>;
  lost: Record<string, number>;
  processes: ProcessInfo[];
  /** Processes seen but not kept in `processes` (past PROCESS_TABLE_LIMIT). */
  processes_untracked: number;
}

/** The largest record any collector sends: the drain batch must hold one. */
const MAX_RECORD = pi_exec_event.SIZE;
const LOST_POLL_MS = 1000;

interface Loaded { collector: Collector; obj: BpfObject }

export class Session {
  readonly clock = new Clock();
  private readonly loaded: Loaded[] = [];
  private readonly decoders = new Map<number, Decoder>();
  private links: Link[] = [];
  private reader: RingReader | undefined;
  private current: { policy: Policy; sink: Sink; startNs: number; counts: Map<RecordType, number>;
    processes: ProcessTable; lostTimer?: NodeJS.Timeout } | undefined;
  /** Totals already reported, so each `lost` record carries only what is new. */
  private readonly lostReported = new Map<string, number>();
  /** Losses seen by user space (undecodable records), as running totals. */
  private readonly userLost = new Map<string, number>();
  /** What this activation lost, for its summary. */
  private lostThisActivation = new Map<string, number>();
  private constructor(readonly categories: Category[], readonly selfTgid: number) {}

  /** Opens, configures and verifies every object the categories need. Nothing is attached. */
  static load(opts: SessionOptions): Session {
    requireFeature('btf');
    requireFeature('ringbuf');
    requireFeature('tp_btf');
    for (const c of opts.categories) {
      if (!COLLECTORS[c]) throw new UserError(`the ${c} category (${CATEGORY_FLAG[c]}) is not implemented in this build`);
    }
    const s = new Session([...new Set(opts.categories)], opts.selfTgid ?? process.pid);
    const wanted = [CORE, ...s.categories.map(c => COLLECTORS[c]!).filter(c => c !== CORE)];
    try {
      for (const collector of wanted) {
        const obj = BpfObject.open(paths.bpfObject(collector.object));
        s.loaded.push({ collector, obj });
        obj.setConst('pi_self_tgid', s.selfTgid);
        if (collector === CORE) {
          obj.setMaxEntries('pi_events', opts.ringBytes ?? 16 << 20);
          obj.setMaxEntries('pi_follow', Math.ceil(pidMax() / 64));
        } else {
          // one policy, one ring, one set of counters: every later object uses the core's maps
          for (const name of obj.mapNames().filter(n => n.startsWith('pi_'))) obj.reuseMap(name, s.core.map(name));
        }
        obj.load();
        for (const [type, d] of collector.decoders) s.decoders.set(type, d);
      }
      // ahead of need too: mapping the ring and allocating the batch buffers take milliseconds
      s.reader = new RingReader(s.core.map('pi_events'), MAX_RECORD);
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  private get core(): BpfObject { return this.loaded[0].obj; }
  private sharedMap(name: string): BpfMap { return this.core.map(name); }

  /** Names of every loaded program, by object. */
  programs(): Array<{ object: string; program: string }> {
    return this.loaded.flatMap(l => l.obj.programs().filter(p => p.autoload)
      .map(p => ({ object: l.collector.object, program: p.name })));
  }

  /**
   * Pins every program and map under dir (progs/<name>, maps/<name>; keytime.rodata becomes
   * maps/keytime_rodata), so bpftool and other tools
   * can inspect them: `bpftool prog show pinned DIR/progs/keytime_exec`.
   */
  pin(dir: string): void {
    mkdirSync(join(dir, 'progs'), { recursive: true, mode: 0o700 });
    mkdirSync(join(dir, 'maps'), { recursive: true, mode: 0o700 });
    const pinnedMaps = new Set<string>();
    for (const { obj } of this.loaded) {
      for (const p of obj.programs()) if (p.autoload) p.pin(join(dir, 'progs', p.name));
      for (const name of obj.mapNames()) {
        if (pinnedMaps.has(name)) continue; // shared pi_* maps: once, from the core
        obj.map(name).pin(join(dir, 'maps', name.replace(/\./g, '_'))); // bpffs refuses '.' in names
        pinnedMaps.add(name);
      }
    }
  }

  get active(): Policy | undefined { return this.current?.policy; }

  /**
   * Starts collecting: writes the policy, attaches what it needs, reads the ring into the sink that
   * makeSink returns for the activation's start instant (ns since the clock's epoch).
   */
  activate(policy: Policy, makeSink: (startNs: number) => Sink): Activation {
    validatePolicy(policy, possibleCpus());
    const missing = policy.categories.filter(c => !this.categories.includes(c));
    if (missing.length) {
      throw new UserError(`${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not attached (attached: ` +
        `${this.categories.join(', ')}); restart attach with ${missing.map(c => CATEGORY_FLAG[c]).join(' ')} or -a`);
    }
    if (this.current) throw new UserError('already active: deactivate first (ctl -d)');
    const t = policy.target;
    if (!policy.myproc && ((t.kind === 'tgid' && t.tgid === this.selfTgid) || (t.kind === 'pid' && t.pid === this.selfTgid))) {
      throw new UserError(`${t.kind === 'tgid' ? t.tgid : t.pid} is procimage's own process: add -m to trace it`);
    }

    const startNs = this.clock.now();
    const sink = makeSink(startNs);
    const policyMap = this.sharedMap('pi_policy');
    const zero = Buffer.alloc(4);
    if (policy.target.kind === 'tgid') this.follow(policy.target.tgid);
    policyMap.update(zero, encodePolicy(policy));
    try {
      this.current = { policy, sink, startNs, counts: new Map(), processes: new ProcessTable() };
      this.reader!.start(b => this.dispatch(b), e => this.fail(e));
      for (const { collector, obj } of this.loaded) this.links.push(...collector.attach(policy, obj));
    } catch (e) {
      this.detach();
      policyMap.update(zero, INACTIVE_POLICY);
      if (policy.target.kind === 'tgid') this.unfollowAll();
      void this.reader?.stop();
      this.current = undefined;
      throw e;
    }
    const collectingNs = process.hrtime.bigint();
    this.current.lostTimer = setInterval(() => this.reportLost(), LOST_POLL_MS);
    this.current.lostTimer.unref();
    return { policy, hooks: this.links.map(l => l.program), collectingNs };
  }

  /** Sets the follow bit of the target process (the kernel adds its children as they fork). */
  private follow(tgid: number): void {
    const m = this.sharedMap('pi_follow');
    const key = Buffer.alloc(4);
    key.writeUInt32LE(Math.floor(tgid / 64));
    const word = m.lookup(key) ?? Buffer.alloc(8);
    word.writeBigUInt64LE(word.readBigUInt64LE(0) | (1n << BigInt(tgid % 64)));
    m.update(key, word);
  }

  /** Clears every follow bit still set (processes still alive at deactivation). */
  private unfollowAll(): void {
    const m = this.sharedMap('pi_follow');
    const zero = Buffer.alloc(8);
    for (const [k, v] of m.entries(8192)) if (v.readBigUInt64LE(0) !== 0n) m.update(k, zero);
  }

  private detach(): void {
    for (const l of this.links) l.close();
    this.links = [];
  }

  private dispatch(b: Batch): void {
    const cur = this.current;
    if (!cur) return;
    forEachRecord(b, (off, len) => {
      const decode = this.decoders.get(eventType(b, off));
      const r = decode?.(b, off, len, this.clock);
      if (!r) {
        this.userLost.set('unknown_type', (this.userLost.get('unknown_type') ?? 0) + 1);
        return;
      }
      cur.counts.set(r.type, (cur.counts.get(r.type) ?? 0) + 1);
      cur.processes.observe(r);
      cur.sink.write(r);
    });
    cur.sink.flush?.();
  }

  private fail(e: Error): void {
    process.emitWarning(`ring buffer reader stopped: ${e.message}`);
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
      cur.counts.set('lost', (cur.counts.get('lost') ?? 0) + 1);
      cur.sink.write(r);
      this.lostThisActivation.set(reason, (this.lostThisActivation.get(reason) ?? 0) + delta);
    }
    cur.sink.flush?.();
  }

  /**
   * Back to the ready state: detaches every hook, then hands over everything already in the ring
   * and the final lost counts, so nothing recorded is lost. Returns what the activation saw.
   */
  async deactivate(): Promise<SessionSummary | undefined> {
    const cur = this.current;
    if (!cur) return undefined;
    clearInterval(cur.lostTimer);
    this.detach();
    this.sharedMap('pi_policy').update(Buffer.alloc(4), INACTIVE_POLICY);
    await this.reader!.stop();
    this.reader!.drainNow(b => this.dispatch(b));
    this.reportLost();
    if (cur.policy.target.kind === 'tgid') this.unfollowAll();
    const summary: SessionSummary = {
      policy: cur.policy,
      duration_ns: this.clock.now() - cur.startNs,
      records: Object.fromEntries(cur.counts),
      lost: Object.fromEntries(this.lostThisActivation),
      processes: cur.processes.all(),
      processes_untracked: cur.processes.untracked,
    };
    this.lostThisActivation = new Map();
    this.current = undefined;
    return summary;
  }

  /** Frees everything: links, reader, objects (pins, if any, stay until unpinned). */
  close(): void {
    this.detach();
    if (this.current) clearInterval(this.current.lostTimer);
    this.current = undefined;
    try { this.reader?.close(); } catch { /* still draining: the process is ending anyway */ }
    this.reader = undefined;
    for (const { obj } of this.loaded.splice(0)) obj.close();
  }
}

function pidMax(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) || 4194304;
  } catch {
    return 4194304;
  }
}

/** Removes a pin directory and everything under it. */
export function removePins(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
