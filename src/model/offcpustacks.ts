// Off-CPU time by stack, as offcputime reports it: what the summary shows to say why a target was
// off the CPU, at a glance. Bounded: a stack seen after the table is full is counted as "other".
import type { OffCpuAggRecord, OffCpuRecord } from '../collect/records.js';

export interface StackTotal {
  comm: string;
  state: string;
  kstack: readonly string[];
  ustack: readonly string[];
  ustack_mode: OffCpuRecord['ustack_mode'];
  ustack_truncated: boolean;
  count: number;
  total_ns: number;
  max_ns: number;
}

const LIMIT = 4096;
const STACK_IDS = LIMIT; // as many as the rows: no more memory than when rows were keyed by the frames

export class OffCpuStacks {
  private readonly byKey = new Map<string, StackTotal>();
  /** Off-CPU time of stacks past the limit, and of intervals without a duration (ongoing, before activation). */
  other_ns = 0;
  /** A number per distinct stack (by its frames), so that a row's key stays short. */
  private readonly stackIds = new Map<string, number>();
  /** The number of each frozen stack array the resolver hands out (StackCache): its frames joined once. */
  private readonly arrayIds = new WeakMap<readonly string[], number>();

  /** Past STACK_IDS distinct stacks a stack is its own key (its frames joined): slower, never unbounded. */
  private idOf(frames: readonly string[]): number | string {
    let id = this.arrayIds.get(frames);
    if (id !== undefined) return id;
    const joined = frames.join('\n');
    id = this.stackIds.get(joined);
    if (id === undefined) {
      if (this.stackIds.size >= STACK_IDS) return `=${joined}`;
      this.stackIds.set(joined, id = this.stackIds.size);
    }
    if (Object.isFrozen(frames)) this.arrayIds.set(frames, id);
    return id;
  }

  /** An interval, or the short ones an offcpu_agg record counts. */
  observe(r: OffCpuRecord | OffCpuAggRecord): void {
    const agg = r.type === 'offcpu_agg';
    const total = agg ? r.total_ns : r.duration_ns, count = agg ? r.count : 1, max = agg ? r.max_ns : r.duration_ns;
    if (total === null || max === null) return;
    const key = `${r.comm}\n${r.state}\n${this.idOf(r.kstack)}\n${this.idOf(r.ustack)}${r.ustack_truncated ? '…' : ''}`;
    let t = this.byKey.get(key);
    if (!t) {
      if (this.byKey.size >= LIMIT) { this.other_ns += total; return; }
      t = { comm: r.comm, state: r.state, kstack: r.kstack, ustack: r.ustack, ustack_mode: r.ustack_mode,
        ustack_truncated: r.ustack_truncated, count: 0, total_ns: 0, max_ns: 0 };
      this.byKey.set(key, t);
    }
    t.count += count;
    t.total_ns += total;
    if (max > t.max_ns) t.max_ns = max;
  }

  /** The n stacks with the most off-CPU time. */
  top(n: number): StackTotal[] {
    return [...this.byKey.values()].sort((a, b) => b.total_ns - a.total_ns).slice(0, n);
  }

  get distinct(): number { return this.byKey.size; }
}
