// Who made the targets wait, for the summary: off-CPU time by waker (process by process), the longest
// chains of "A waited for B, which was waiting for C", and each thread's CPU migrations. Built from
// the records as they go out (offcpu with their waker, migrate), bounded whatever the run's length.
//
// A chain follows wakers back in time: A's sleep ended when B woke it at t; what B had been waiting
// for is B's own last sleep that ended by t and was still going on when A's began (it overlapped A's
// wait: A was waiting, through B, on whatever B waited for); that sleep's waker is the next link, and
// so on until a waker that is not a target (its waits are not traced), an interrupt, or a waker
// that was not waiting meanwhile. B's interval reaches procimage before A's: B's switch-in record
// was written before B could run and wake A.
import type { AggWaker, MigrateRecord, OffCpuAggRecord, OffCpuRecord, ProcRecord, Waker } from '../collect/records.js';

/** Off-CPU time of one process's threads that one waker ended. */
export interface WakerTotal {
  tgid: number;         // the process that waited
  comm: string;
  waker: string;        // "nginx[1234]" (process), "kernel thread kworker/0:1", "interrupt", "softirq"
  waker_tgid: number | null; // the waker's process (null for interrupts and softirqs)
  count: number;
  total_ns: number;
  max_ns: number;
}

/** One link of a chain: a thread's wait, and who ended it. */
export interface ChainLink {
  pid: number;
  tgid: number;
  comm: string;
  state: string;
  start_ts_ns: number;
  duration_ns: number;
}

/** A chain of waits, the first thread's first: each waited for the next. */
export interface WakeChain {
  links: ChainLink[];
  /** Who ended the last link's wait: an interrupt, a non-target, a thread that was not waiting. */
  end: string;
  /** Chains seen with the same threads in the same order (this one is the longest wait of them). */
  count: number;
}

export interface MigrationCount { pid: number; tgid: number; comm: string; count: number }

/**
 * A woken wait, as chains need it: its waker without the stacks (a record's waker holds both of its
 * stacks as strings; kept for 16 waits of 16,384 threads they took ~130 MB of live heap, and ~150,000
 * hidden classes, with 20,000 threads: bench/load.ts LOAD_THREADS).
 */
interface Wait { start: number; end: number; state: string; comm: string; tgid: number; waker: WaitWaker }
type WaitWaker = Pick<Waker, 'pid' | 'tgid' | 'comm' | 'context' | 'target' | 'wake_ts_ns'>;

const TOTALS_LIMIT = 4096;   // (process, waker) rows
const THREADS_LIMIT = 16384; // threads whose recent waits are kept
const WAITS_KEPT = 8;        // per thread: the most recent woken waits (a waker's wait is looked up as it wakes someone)
const CHAINS_KEPT = 256;     // distinct chains (by their threads)
const MAX_LINKS = 16;        // a chain is followed this far
/** Chains the summary lists: at least this many threads (A waits for B, which waits for C). */
export const MIN_CHAIN = 3;

/** How the summary names a waker, per process: kernel threads by name, interrupts by kind. */
export function wakerLabel(w: AggWaker): string {
  if (w.context === 'hardirq') return 'interrupt';
  if (w.context === 'softirq') return 'softirq';
  if (w.context === 'kthread') return `kernel thread ${w.comm ?? '?'}`;
  return `${w.comm ?? '?'}[${w.tgid}]`;
}

export class WakeChains {
  private readonly totals = new Map<string, WakerTotal>();
  /** Off-CPU time of waits past TOTALS_LIMIT rows. */
  other_ns = 0;
  private readonly waits = new Map<number, Wait[]>();
  private readonly chains = new Map<string, WakeChain>();
  private readonly migrations = new Map<number, MigrationCount>();

  observe(r: ProcRecord): void {
    if (r.type === 'offcpu') this.offcpu(r);
    // the short waits counted in the kernel: in the totals by waker, too short to link into chains
    else if (r.type === 'offcpu_agg' && r.waker) this.total(r, r.waker, r.total_ns, r.count, r.max_ns);
    else if (r.type === 'migrate') this.migrate(r);
  }

  private migrate(r: MigrateRecord): void {
    const m = this.migrations.get(r.pid);
    if (m) {
      m.count++;
      m.comm = r.comm;
    } else if (this.migrations.size < THREADS_LIMIT) {
      this.migrations.set(r.pid, { pid: r.pid, tgid: r.tgid, comm: r.comm, count: 1 });
    }
  }

  private offcpu(r: OffCpuRecord): void {
    const w = r.waker;
    if (!w || r.start_ts_ns === null || r.end_ts_ns === null || r.duration_ns === null) return;
    this.total(r, w, r.duration_ns);
    const waker: WaitWaker = { pid: w.pid, tgid: w.tgid, comm: w.comm, context: w.context, target: w.target, wake_ts_ns: w.wake_ts_ns };
    const wait: Wait = { start: r.start_ts_ns, end: r.end_ts_ns, state: r.state, comm: r.comm, tgid: r.tgid, waker };
    this.chain(r.pid, wait);
    let list = this.waits.get(r.pid);
    if (!list) {
      if (this.waits.size >= THREADS_LIMIT) return;
      this.waits.set(r.pid, list = []);
    }
    list.push(wait);
    if (list.length > WAITS_KEPT) list.shift();
  }

  private total(r: OffCpuRecord | OffCpuAggRecord, w: AggWaker, ns: number, count = 1, max = ns): void {
    const waker = wakerLabel(w);
    const key = `${r.tgid}\n${r.comm}\n${waker}`;
    let t = this.totals.get(key);
    if (!t) {
      if (this.totals.size >= TOTALS_LIMIT) { this.other_ns += ns; return; }
      const process = w.context === 'task' || w.context === 'kthread';
      this.totals.set(key, t = { tgid: r.tgid, comm: r.comm, waker, waker_tgid: process ? w.tgid : null, count: 0, total_ns: 0, max_ns: 0 });
    }
    t.comm = r.comm;
    t.count += count;
    t.total_ns += ns;
    if (max > t.max_ns) t.max_ns = max;
  }

  /** The wait of `pid` that its waker, woken at `at`, had been in while `since` (the waiter's start) went by. */
  private waitOf(pid: number, at: number, since: number): Wait | undefined {
    const list = this.waits.get(pid);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const x = list[i];
      if (x.end <= at) return x.end > since ? x : undefined;
    }
    return undefined;
  }

  private chain(pid: number, first: Wait): void {
    const links: ChainLink[] = [{ pid, tgid: first.tgid, comm: first.comm, state: first.state, start_ts_ns: first.start, duration_ns: first.end - first.start }];
    const seen = new Set([pid]);
    let cur = first;
    while (links.length < MAX_LINKS) {
      const w = cur.waker;
      if (w.context !== 'task' || !w.target || seen.has(w.pid)) break;
      const next = this.waitOf(w.pid, w.wake_ts_ns, cur.start);
      if (!next) break;
      seen.add(w.pid);
      links.push({ pid: w.pid, tgid: next.tgid, comm: next.comm, state: next.state, start_ts_ns: next.start, duration_ns: next.end - next.start });
      cur = next;
    }
    if (links.length < MIN_CHAIN) return;
    const w = cur.waker;
    const end = w.context === 'task' || w.context === 'kthread' ? `${w.context === 'kthread' ? 'kernel thread ' : ''}${w.comm ?? '?'}[${w.pid}]` : wakerLabel(w);
    const key = links.map(l => l.pid).join(' ') + `\n${end}`;
    const had = this.chains.get(key);
    if (had) {
      had.count++;
      if (links[0].duration_ns > had.links[0].duration_ns) { had.links = links; had.end = end; }
      return;
    }
    if (this.chains.size >= CHAINS_KEPT) {
      // the weakest kept one goes, if this one is stronger
      const weakest = [...this.chains.entries()].reduce((a, b) => (stronger(a[1], b[1]) > 0 ? b : a));
      if (stronger({ links, end, count: 1 }, weakest[1]) <= 0) return;
      this.chains.delete(weakest[0]);
    }
    this.chains.set(key, { links, end, count: 1 });
  }

  get distinct(): number { return this.totals.size; }

  /** The n (process, waker) rows with the most off-CPU time. */
  topWakers(n: number): WakerTotal[] {
    return [...this.totals.values()].sort((a, b) => b.total_ns - a.total_ns).slice(0, n);
  }

  /** The n longest chains: the most threads, then the longest first wait. */
  topChains(n: number): WakeChain[] {
    return [...this.chains.values()].sort((a, b) => stronger(b, a)).slice(0, n);
  }

  /** Every thread that migrated, the most first. */
  migrationCounts(): MigrationCount[] {
    return [...this.migrations.values()].sort((a, b) => b.count - a.count || a.pid - b.pid);
  }
}

/** > 0 if a ranks above b: more threads, then the longer wait at its head. */
function stronger(a: WakeChain, b: WakeChain): number {
  return a.links.length - b.links.length || a.links[0].duration_ns - b.links[0].duration_ns;
}
