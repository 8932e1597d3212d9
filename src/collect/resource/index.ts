// resource: CPU, memory, I/O, page faults and context switches of the targets, every --interval
// (bpf/resource.bpf.c), with the whole system's beside them.
//
// Nothing is attached to any hook for this: a task iterator reads what the kernel already counts in
// every task, once per interval, when user space reads the iterator (so a process pays nothing for
// being watched). The only hook is keytime's exit program, which keeps a task's last figures so that
// one ending between two samples is still reported (bpf/resource_exit.bpf.h).
import { readIter, type BpfMap, type BpfObject, type Link } from '../../bpf/index.js';
import { clockTicksPerSecond, pageSize } from '../../sys/libc.js';
import type { Clock } from '../clock.js';
import type { Collector, Decoder, PollContext } from '../collector.js';
import { INACTIVE_POLICY, encodePolicy, type Policy } from '../policy.js';
import type { ProcRecord, ResourceRecord } from '../records.js';
import { decodeExit, decodeSamples, type ExitCapture } from './sample.js';
import { SystemSampler, idleTime } from './system.js';
import { topN } from './top.js';
import { ResourceTracker, type View } from './tracker.js';

interface Running {
  obj: BpfObject;
  iter: Link;
  exits: BpfMap;
  tracker: ResourceTracker;
  system: SystemSampler;
}

const ZERO_KEY = Buffer.alloc(4);

const wanted = (p: Policy) => p.categories.includes('resource');

function viewOf(p: Policy): View {
  switch (p.target.kind) {
    case 'all': return 'processes';
    case 'tgid': return 'both';
    case 'pid': case 'cpu': return 'threads';
  }
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
  readonly features = ['iter_task', 'bpf_loop'] as const;
  /** No ring records: everything is read at sample time. */
  readonly decoders = new Map<number, Decoder>();
  private running: Running | undefined;
  private activationNs = 0;
  /** What the last sample reported. */
  private last: ProcRecord[] = [];

  programs(policy: Policy): string[] {
    return wanted(policy) ? ['keytime_exit'] : [];
  }

  reset(): void {
    this.stop();
  }

  /** The first sample, the zero every figure of the first interval counts from. */
  start(ctx: PollContext): void {
    if (!wanted(ctx.policy)) return;
    const obj = ctx.obj;
    obj.map('resource_policy').update(ZERO_KEY, encodePolicy(ctx.policy));
    const iter = obj.program('resource_iter').attachIter();
    this.activationNs = ctx.startNs;
    const exits = ctx.object('keytime').map('resource_exits');
    const running: Running = {
      obj, iter, exits,
      tracker: new ResourceTracker(pageSize(), viewOf(ctx.policy), ctx.startNs),
      system: new SystemSampler(clockTicksPerSecond()),
    };
    this.running = running;
    try {
      // what an earlier activation left goes; what ended since this one started waits for the first poll
      takeExits(exits, ctx.clock, ctx.startNs, false);
      running.tracker.baseline(decodeSamples(readIter(iter), ctx.clock));
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
      const samples = decodeSamples(readIter(r.iter), ctx.clock);
      let records = r.tracker.update(samples, takeExits(r.exits, ctx.clock, this.activationNs), sampleStart);
      if (ctx.policy.target.kind === 'all') records = topN(records, ctx.policy.topN);
      const system = r.system.sample(ctx.clock.now());
      if (ctx.policy.target.kind === 'cpu') records = records.map(rec => withIdleTime(rec, r.system, ctx.policy));
      this.last = system ? [system, ...records] : records;
      return this.last;
    } finally {
      if (ctx.final) this.stop();
    }
  }

  /** After the last sample: the iterator's policy back to nothing, its link closed. */
  private stop(): void {
    const r = this.running;
    this.running = undefined;
    this.last = [];
    if (!r) return;
    r.iter.close();
    r.obj.map('resource_policy').update(ZERO_KEY, INACTIVE_POLICY);
  }
}

export const resource: Collector = new ResourceCollector();
