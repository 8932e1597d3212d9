// resource: CPU, memory, I/O, page faults and context switches of the targets, every --interval
// (bpf/resource.bpf.c), with the whole system's beside them.
//
// Nothing is attached to any hook for this: a task iterator reads what the kernel already counts in
// every task, once per interval, when user space reads the iterator (so a process pays nothing for
// being watched). The only hook is keytime's exit program, which keeps a task's last figures so that
// one ending between two samples is still reported (bpf/resource_exit.bpf.h). A kernel without task
// iterators gets the same figures from /proc (procsampler.ts), said in a note at activation.
import { FEATURES, requireFeature, supported, type BpfMap, type BpfObject } from '../../bpf/index.js';
import { clockTicksPerSecond, pageSize } from '../../sys/libc.js';
import type { Clock } from '../clock.js';
import type { Collector, Decoder, PollContext } from '../collector.js';
import type { Policy } from '../policy.js';
import type { ProcRecord, ResourceRecord } from '../records.js';
import { ProcSampler } from './procsampler.js';
import { decodeExit, type ExitCapture } from './sample.js';
import { IterSampler, type Sampler } from './sampler.js';
import { ITER_FEATURES, pickSource, type ResourceSourceOption, type SourceChoice } from './source.js';
import { SystemSampler, idleTime } from './system.js';
import { topN } from './top.js';
import { ResourceTracker, type View } from './tracker.js';

interface Running {
  sampler: Sampler;
  exits: BpfMap;
  tracker: ResourceTracker;
  system: SystemSampler;
}

const wanted = (p: Policy) => p.categories.includes('resource');

function viewOf(p: Policy): View {
  switch (p.target.kind) {
    case 'all': return 'processes';
    case 'tgid': case 'cgroup': case 'containers': return 'both';
    case 'pid': case 'cpu': return 'threads';
  }
}

/** -P in /proc mode: which processes the kernel follows (pi_follow, a bitmap by tgid), one lookup per word. */
function followTest(follow: BpfMap): () => (tgid: number) => boolean {
  return () => {
    const words = new Map<number, bigint>();
    const key = Buffer.alloc(4);
    return tgid => {
      const w = Math.floor(tgid / 64);
      let v = words.get(w);
      if (v === undefined) {
        key.writeUInt32LE(w);
        words.set(w, v = follow.lookup(key)?.readBigUInt64LE(0) ?? 0n);
      }
      return ((v >> BigInt(tgid % 64)) & 1n) === 1n;
    };
  };
}

/**
 * Reads and deletes the exit captures taken from `since` on (ns); older ones, left by an activation
 * that ended before reading them, are deleted unread. With keep=false nothing is returned.
 */
function takeExits(exits: BpfMap, clock: Clock, since: number, keep = true): ExitCapture[] {
  const out: ExitCapture[] = [];
  for (const [key, value] of exits.entries()) {
    const x = decodeExit(value, clock);
    if (x.thread.ts < since) exits.delete(key);
    else if (keep) {
      exits.delete(key);
      out.push(x);
    }
  }
  return out;
}

/** A -c target's record, its CPU time taken from /proc/stat (see idleTime), over the system's interval. */
function withIdleTime(rec: ResourceRecord, system: SystemSampler, policy: Policy): ResourceRecord {
  const { prev, last } = system;
  const idle = prev && last && policy.target.kind === 'cpu' ? idleTime(prev, last, policy.target.cpu, system.ticksPerSecond) : undefined;
  if (!idle || !prev || !last) return rec;
  const interval = last.ts - prev.ts;
  const pct = interval > 0 ? (idle.ns * 100) / interval : 0;
  return {
    ...rec, ts_ns: last.ts, interval_ns: interval, cpu_pct: pct, user_pct: 0, system_pct: pct,
    cpu_ns: idle.ns, user_ns: 0, system_ns: idle.ns, total_cpu_ns: idle.totalNs, total_user_ns: 0, total_system_ns: idle.totalNs,
  };
}

class ResourceCollector implements Collector {
  readonly category = 'resource' as const;
  readonly object = 'resource';
  /** No ring records: everything is read at sample time. */
  readonly decoders = new Map<number, Decoder>();
  /** What --resource-source asked for. */
  asked: ResourceSourceOption = 'auto';
  /** What this kernel and `asked` gave, at load (configure). */
  private choice: SourceChoice = { source: 'iter' };
  private running: Running | undefined;
  private activationNs = 0;
  /** What the last sample reported. */
  private last: ProcRecord[] = [];

  /**
   * The source, decided before load by the cached feature probe: the iterator where the kernel runs
   * it, else /proc — whose object then loads without the iterator program (nothing of it would verify).
   */
  configure(obj: BpfObject): void {
    if (this.asked === 'iter') for (const f of ITER_FEATURES) requireFeature(f, 'the resource category\'s task iterator (--resource-source iter)');
    this.choice = pickSource(this.asked, supported, f => FEATURES[f]);
    if (this.choice.source === 'proc') obj.program('resource_iter').setAutoload(false);
  }

  programs(policy: Policy): string[] {
    return wanted(policy) ? ['keytime_exit'] : [];
  }

  /** The iterator that samples every task (IterSampler). */
  extraPrograms(policy: Policy): string[] {
    return wanted(policy) && this.choice.source === 'iter' ? ['resource_iter'] : [];
  }

  notes(policy: Policy): string[] {
    if (this.choice.source !== 'proc' || !wanted(policy)) return [];
    const notes = [`resource: reading /proc, not a BPF task iterator (${this.choice.why}): the same figures, ` +
      'start times to the tick (docs/ndjson.md)'];
    if (policy.target.kind === 'cpu') notes.push('resource: /proc has no idle task: -c reports its CPU time (from /proc/stat) and zeros for the rest');
    return notes;
  }

  reset(): void {
    this.stop();
  }

  /** The first sample, the zero every figure of the first interval counts from. */
  start(ctx: PollContext): void {
    if (!wanted(ctx.policy)) return;
    const view = viewOf(ctx.policy);
    const keytime = ctx.object('keytime');
    const sampler: Sampler = this.choice.source === 'iter' ? new IterSampler(ctx.obj, ctx.policy, ctx.clock)
      : new ProcSampler({ policy: ctx.policy, view, clock: ctx.clock, pageSize: pageSize(), ticksPerSecond: clockTicksPerSecond(),
        selfTgid: process.pid, follows: followTest(keytime.map('pi_follow')) });
    this.activationNs = ctx.startNs;
    const exits = keytime.map('resource_exits');
    const running: Running = {
      sampler, exits,
      tracker: new ResourceTracker(pageSize(), view, ctx.startNs, sampler.startResolutionNs),
      system: new SystemSampler(clockTicksPerSecond()),
    };
    this.running = running;
    try {
      // what an earlier activation left goes; what ended since this one started waits for the first poll
      takeExits(exits, ctx.clock, ctx.startNs, false);
      running.tracker.baseline(sampler.read(() => []).samples);
      running.system.sample(ctx.clock.now());
    } catch (e) {
      this.stop();
      throw e;
    }
  }

  poll(ctx: PollContext): ProcRecord[] {
    const r = this.running;
    if (!r) return [];
    // a scrape between two samples: the last interval's figures (a sample of its own would cut the
    // interval short and consume exit captures)
    if (ctx.snapshot) return this.last;
    try {
      const sampleStart = ctx.clock.now();
      const { samples, exits } = r.sampler.read(() => takeExits(r.exits, ctx.clock, this.activationNs));
      let records = r.tracker.update(samples, exits, sampleStart);
      if (ctx.policy.target.kind === 'all') records = topN(records, ctx.policy.topN);
      const system = r.system.sample(ctx.clock.now());
      if (ctx.policy.target.kind === 'cpu') records = records.map(rec => withIdleTime(rec, r.system, ctx.policy));
      this.last = system ? [system, ...records] : records;
      return this.last;
    } finally {
      if (ctx.final) this.stop();
    }
  }

  /** After the last sample. */
  private stop(): void {
    const r = this.running;
    this.running = undefined;
    this.last = [];
    r?.sampler.close();
  }
}

export const resource: Collector = new ResourceCollector();

/** --resource-source, before the session loads: auto (the default), iter or proc. */
export function chooseResourceSource(s: ResourceSourceOption): void {
  (resource as ResourceCollector).asked = s;
}
