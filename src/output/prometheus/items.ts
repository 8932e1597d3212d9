// The syscalls and locks of the targets, for the exporter: per target and item (one syscall, one
// lock), summed over a process's threads, rebuilt from the kernel's aggregates at each scrape. An item
// has its own label set while the budget lasts; past it, a target's further items add up under
// syscall="(other)" or lock="(other)", so the series stay bounded (docs/metrics.md).
import type { LockRecord, SyscallStatRecord } from '../../collect/records.js';
import { addSlots } from './metric.js';

export const OTHER = '(other)';

/** A log2 histogram of ns as the kernel keeps it, with its count and sum. */
export interface Log2Totals { slots: number[]; count: number; sumNs: number }

export interface SyscallTotals {
  calls: number;
  errors: number;
  /** The calls whose entry was seen (those that began before activation are counted, untimed). */
  latency: Log2Totals;
}

export interface LockTotals {
  labels: { source: LockRecord['source']; kind: LockRecord['kind']; mode: string; lock: string };
  acquisitions: number; // pthread only
  contended: number;
  failed: number;
  holdNs: number; // pthread only
  wait: Log2Totals;
}

const addLog2 = (t: Log2Totals, slots: number[], sumNs: number) => {
  t.slots = addSlots(t.slots, slots);
  t.count += slots.reduce((a, b) => a + b, 0); // = the slots' sum, so that +Inf is the count
  t.sumNs += sumNs;
};

const emptyLog2 = (): Log2Totals => ({ slots: [], count: 0, sumNs: 0 });

/** Which items have their own label sets: admitted first come, first served, while the budget lasts. */
export class ItemBudget {
  private used = 0;
  constructor(private readonly max: number) {}

  /** Whether the item (in the target's own set) has its own label set. */
  admit(own: Set<string>, item: string): boolean {
    if (own.has(item)) return true;
    if (this.used >= this.max) return false;
    own.add(item);
    this.used++;
    return true;
  }

  /** A target's items, given back when its series are dropped. */
  release(own: Set<string>): void {
    this.used -= own.size;
    own.clear();
  }
}

/** One (thread, syscall) record added into its target's per-syscall totals. */
export function addSyscall(into: Map<string, SyscallTotals>, name: string, r: SyscallStatRecord): void {
  let s = into.get(name);
  if (!s) into.set(name, s = { calls: 0, errors: 0, latency: emptyLog2() });
  s.calls += r.count;
  s.errors += r.errors ?? 0;
  addLog2(s.latency, r.hist_log2_ns ?? [], r.total_ns ?? 0);
}

/** The name a lock goes by in labels: its kernel symbol when it is one, else its address. */
export const lockName = (r: LockRecord) => r.symbol ?? r.addr;

/** One (lock, thread) record added into its target's per-lock totals. */
export function addLock(into: Map<string, LockTotals>, lock: string, r: LockRecord): void {
  const mode = r.mode ?? '';
  const key = `${r.source}\0${r.kind}\0${mode}\0${lock}`;
  let l = into.get(key);
  if (!l) {
    into.set(key, l = { labels: { source: r.source, kind: r.kind, mode, lock }, acquisitions: 0, contended: 0, failed: 0,
      holdNs: 0, wait: emptyLog2() });
  }
  l.acquisitions += r.acquisitions ?? 0;
  l.contended += r.contended;
  l.failed += r.failed;
  l.holdNs += r.hold_total_ns ?? 0;
  addLog2(l.wait, r.wait_hist_log2_ns, r.wait_total_ns);
}
