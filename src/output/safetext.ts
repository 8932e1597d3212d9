// What a target names itself (comm, thread names), the symbols of its files and its paths reach the
// text output on a terminal: each string of a record is made printable (src/sys/printable.ts) before
// the text output lays it out, so a newline cannot split a line a script parses and an escape
// sequence cannot reach the terminal. argv and filename are left to shellWord (format.ts), which
// quotes them as $'...' so that they paste back as the same words. Records with nothing to escape
// (nearly all) pass through as they are, without a copy.
import { needsEscape, printable } from '../sys/printable.js';

const QUOTED_BY_SHELLWORD = new Set(['argv', 'filename']);

/** Stacks are shared arrays (one per distinct stack): each is looked at once. */
const stacks = new WeakMap<readonly unknown[], readonly unknown[]>();

function safeArray(a: readonly unknown[]): readonly unknown[] {
  let safe = stacks.get(a);
  if (safe === undefined) {
    safe = a.some(x => typeof x === 'string' && needsEscape(x)) ? Object.freeze(a.map(x => (typeof x === 'string' ? printable(x) : x))) : a;
    stacks.set(a, safe);
  }
  return safe;
}

/** r, or a copy of it with its strings (and arrays of strings, and objects' strings) printable. */
export function safeForText<T extends object>(r: T): T {
  let copy: Record<string, unknown> | undefined;
  for (const k in r) {
    const v = (r as Record<string, unknown>)[k];
    let safe: unknown = v;
    if (typeof v === 'string') {
      if (needsEscape(v) && !QUOTED_BY_SHELLWORD.has(k)) safe = printable(v);
    } else if (Array.isArray(v) && !QUOTED_BY_SHELLWORD.has(k)) {
      safe = safeArray(v);
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      safe = safeForText(v); // an object in a record (an offcpu's waker: another target's name)
    }
    if (safe !== v) (copy ??= { ...r } as Record<string, unknown>)[k] = safe;
  }
  return (copy ?? r) as T;
}
