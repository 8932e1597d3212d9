// Off-CPU time by stack, as offcputime reports it: what the summary shows to say why a target was
// off the CPU, at a glance. Bounded: a stack seen after the table is full is counted as "other".
import type { OffCpuRecord } from '../collect/records.js';

export interface StackTotal {
  comm: string;
  state: string;
  kstack: string[];
  ustack: string[];
  count: number;
  total_ns: number;
  max_ns: number;
}

const LIMIT = 4096;

export class OffCpuStacks {
  private readonly byKey = new Map<string, StackTotal>();
  /** Off-CPU time of stacks past the limit, and of intervals without a duration (ongoing, before activation). */
  other_ns = 0;

  observe(r: OffCpuRecord): void {
    if (r.duration_ns === null) return;
    const key = `${r.comm}\n${r.state}\n${r.kstack.join('\n')}\n--\n${r.ustack.join('\n')}`;
    let t = this.byKey.get(key);
    if (!t) {
      if (this.byKey.size >= LIMIT) { this.other_ns += r.duration_ns; return; }
      t = { comm: r.comm, state: r.state, kstack: r.kstack, ustack: r.ustack, count: 0, total_ns: 0, max_ns: 0 };
      this.byKey.set(key, t);
    }
    t.count++;
    t.total_ns += r.duration_ns;
    if (r.duration_ns > t.max_ns) t.max_ns = r.duration_ns;
  }

  /** The n stacks with the most off-CPU time. */
  top(n: number): StackTotal[] {
    return [...this.byKey.values()].sort((a, b) => b.total_ns - a.total_ns).slice(0, n);
  }

  get distinct(): number { return this.byKey.size; }
}
