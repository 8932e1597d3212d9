// Symbolized stacks by their raw addresses. Off-CPU stacks repeat — a busy system has a few hundred
// distinct kernel stacks, met hundreds of thousands of times a second — so each distinct stack is
// symbolized once and handed out as one frozen array: later stages (the off-CPU table, the NDJSON
// writer) can key on the array itself instead of joining its frames again.
//
// Looked up by a hash of the address words, read in place from the ring batch (no copy, no BigInt),
// and confirmed word by word: a hash collision costs a comparison, never a wrong stack. What is kept
// per stack is its frames (kernel stacks) or anything else made once per distinct stack (user
// stacks keep their frames and their locations, src/model/stacks.ts).

interface Entry<V> { salt: number; words: Uint32Array; value: V }

export const NO_FRAMES: readonly string[] = Object.freeze([]);

/** FNV-1a over 32-bit words, after the salt's. */
function hash(words: Uint32Array, salt: number): number {
  let h = Math.imul(0x811c9dc5 ^ (salt >>> 0), 0x01000193);
  h = Math.imul(h ^ Math.floor(salt / 4294967296), 0x01000193);
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  return h >>> 0;
}

function same(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class StackCache<V extends object = readonly string[]> {
  private readonly byHash = new Map<number, Array<Entry<V>>>();
  private size = 0;

  /** max: distinct stacks kept; past it the cache starts over (a stack is then symbolized again). */
  constructor(private readonly max = 20_000) {}

  /**
   * The frames of the stack whose addresses are `words` (u64s as pairs of u32, as in memory);
   * `symbolize` makes them on a miss. `words` may be a view of a buffer that is reused: it is copied
   * when kept.
   */
  get(this: StackCache<readonly string[]>, words: Uint32Array, symbolize: () => string[]): readonly string[] {
    if (words.length === 0) return NO_FRAMES;
    return this.find(words) ?? this.add(words, symbolize());
  }

  /** What is kept for `words`; `salt` tells apart address spaces where the same words mean other things. */
  find(words: Uint32Array, salt = 0): V | undefined {
    const bucket = this.byHash.get(hash(words, salt));
    if (bucket) for (const e of bucket) if (e.salt === salt && same(e.words, words)) return e.value;
    return undefined;
  }

  /** Keeps value for `words` (copied) and returns it frozen (shallowly): what find() will hand out. */
  add(words: Uint32Array, value: V, salt = 0): V {
    const kept = Object.freeze(value);
    if (this.size >= this.max) this.clear();
    const h = hash(words, salt);
    const entry = { salt, words: words.slice(), value: kept };
    const b = this.byHash.get(h);
    if (b) b.push(entry); else this.byHash.set(h, [entry]);
    this.size++;
    return kept;
  }

  clear(): void {
    this.byHash.clear();
    this.size = 0;
  }
}
