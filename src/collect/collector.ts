// What each category provides to the session (src/model/session.ts): its BPF object, which of its
// programs a policy needs attached, and how to decode its ring records. One file per category
// implements it; registry.ts lists them.
import type { Batch, BpfObject, Link } from '../bpf/index.js';
import type { Clock } from './clock.js';
import type { Category, Policy } from './policy.js';
import type { ProcRecord } from './records.js';

export type Decoder = (b: Batch, off: number, len: number, clock: Clock) => ProcRecord | undefined;

export interface Collector {
  readonly category: Category;
  /** build/bpf/<object>.bpf.o */
  readonly object: string;
  /** Ring records it decodes, by enum pi_event_type. */
  readonly decoders: ReadonlyMap<number, Decoder>;
  /**
   * Attaches what `policy` needs of this object and returns the links (the session owns them).
   * Called for every loaded collector: one may need hooks even when its category is not asked for
   * (keytime's fork/exit follow a thread group for every category).
   */
  attach(policy: Policy, obj: BpfObject): Link[];
}

/** Attaches the named programs as their sections say; on failure detaches the ones already done. */
export function attachPrograms(obj: BpfObject, names: string[]): Link[] {
  const links: Link[] = [];
  try {
    for (const n of names) links.push(obj.program(n).attach());
  } catch (e) {
    for (const l of links) l.close();
    throw e;
  }
  return links;
}
