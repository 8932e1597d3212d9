// Stacks for the page: each distinct stack kept once under a number, off-CPU time summed by (thread,
// state, stacks), and flame graphs made of those sums for whichever threads and states are asked for.
// Browser-safe, like the rest of the page's model.
import { kernelFrameName, userFrameName } from '../export/stackframes.js';

/** Stacks past this many are not kept (their intervals say 0: "not kept"); a run has a few thousand. */
const MAX_STACKS = 200_000;

export class StackTable {
  private readonly ids = new Map<string, number>();
  /** Index 0: no stack. */
  readonly stacks: Array<readonly string[]> = [[]];

  id(frames: readonly string[] | null | undefined): number {
    if (!frames || frames.length === 0) return 0;
    const key = frames.join('\n');
    let id = this.ids.get(key);
    if (id === undefined) {
      if (this.stacks.length >= MAX_STACKS) return 0;
      id = this.stacks.length;
      this.stacks.push(frames);
      this.ids.set(key, id);
    }
    return id;
  }

  get(id: number): readonly string[] {
    return this.stacks[id] ?? [];
  }

  toJSON(): Array<readonly string[]> {
    return this.stacks.slice(1);
  }

  static fromJSON(stacks: Array<readonly string[]>): StackTable {
    const t = new StackTable();
    for (const s of stacks) t.id(s);
    return t;
  }
}

/** A flame graph node, as d3-flame-graph takes it: the frame's name, its total, its callees. */
export interface FlameNode { name: string; value: number; children: FlameNode[] }

export interface StackSum { tid: number; tgid: number; comm: string; state: string; kstack: number; ustack: number; count: number; ns: number }

/** Sums kept by thread; past them a new thread's time is summed by its name alone (tid and tgid -1). */
const MAX_SUMS = 200_000;

/** A sum's key: by thread, or (tid -1) by name past MAX_SUMS. */
const sumKey = (s: Omit<StackSum, 'count' | 'ns'>): string =>
  s.tid === -1 ? `-1|${s.comm}|${s.state}|${s.kstack}|${s.ustack}` : `${s.tid}|${s.state}|${s.kstack}|${s.ustack}`;

/** Off-CPU time by (thread, state, kernel stack, user stack). */
export class OffCpuSums {
  private readonly sums = new Map<string, StackSum>();

  add(s: Omit<StackSum, 'count' | 'ns'>, ns: number): void {
    let key = sumKey(s);
    let e = this.sums.get(key);
    // every thread of a fork storm has sums of its own: past the limit the flame graph still has its
    // time (under its name), a thread's own selection no longer
    if (!e && this.sums.size >= MAX_SUMS) {
      s = { ...s, tid: -1, tgid: -1 };
      key = sumKey(s);
      e = this.sums.get(key);
    }
    if (!e) this.sums.set(key, e = { ...s, count: 0, ns: 0 });
    e.count++;
    e.ns += ns;
  }

  all(): StackSum[] {
    return [...this.sums.values()];
  }

  static from(sums: StackSum[]): OffCpuSums {
    const o = new OffCpuSums();
    for (const s of sums) o.sums.set(sumKey(s), { ...s });
    return o;
  }
}

/**
 * A flame graph (root outermost) of weighted stacks: under the root, the process name, then the user
 * frames from the outermost, then the kernel frames (marked [k]), as the folded export lays them out.
 */
export function flameTree(rows: Array<{ comm: string; kstack: readonly string[]; ustack: readonly string[]; value: number }>, root: string): FlameNode {
  const top: FlameNode = { name: root, value: 0, children: [] };
  const childOf = (n: FlameNode, name: string): FlameNode => {
    let c = n.children.find(x => x.name === name);
    if (!c) n.children.push(c = { name, value: 0, children: [] });
    return c;
  };
  for (const r of rows) {
    if (r.value <= 0) continue;
    top.value += r.value;
    let n = childOf(top, r.comm);
    n.value += r.value;
    for (let i = r.ustack.length - 1; i >= 0; i--) {
      n = childOf(n, userFrameName(r.ustack[i]));
      n.value += r.value;
    }
    for (let i = r.kstack.length - 1; i >= 0; i--) {
      n = childOf(n, `${kernelFrameName(r.kstack[i])} [k]`);
      n.value += r.value;
    }
  }
  return top;
}
