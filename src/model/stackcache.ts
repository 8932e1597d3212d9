// Symbolized stacks by their raw addresses. Off-CPU stacks repeat — a busy system has a few hundred
// distinct kernel stacks, met hundreds of thousands of times a second — so each distinct stack is
// symbolized once and handed out as one frozen array: later stages (the off-CPU table, the NDJSON
// writer) can key on the array itself instead of joining its frames again.
//
// Looked up by a hash of the address words, read in place from the ring batch (no copy, no BigInt),
// and confirmed word by word: a hash collision costs a comparison, never a wrong stack.

interface Entry { salt: number; words: Uint32Array; frames: readonly string[] }

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

export class StackCache {
  private readonly byHash = new Map<number, Entry[]>();
  private size = 0;

  /** max: distinct stacks kept; past it the cache starts over (a stack is then symbolized again). */
  constructor(private readonly max = 20_000) {}

  /**
   * The frames of the stack whose addresses are `words` (u64s as pairs of u32, as in memory);
   * `symbolize` makes them on a miss. `words` may be a view of a buffer that is reused: it is copied
   * when kept.
   */
  get(words: Uint32Array, symbolize: () => string[]): readonly string[] {
    if (words.length === 0) return NO_FRAMES;
    return this.find(words) ?? this.add(words, symbolize());
  }

  /** The frames kept for `words`; `salt` tells apart address spaces where the same words mean other things. */
  find(words: Uint32Array, salt = 0): readonly string[] | undefined {
    const bucket = this.byHash.get(hash(words, salt));
    if (bucket) for (const e of bucket) if (e.salt === salt && same(e.words, words)) return e.frames;
    return undefined;
  }

  /** Keeps frames for `words` (copied) and returns them frozen: the array find() will hand out. */
  add(words: Uint32Array, frames: string[], salt = 0): readonly string[] {
    const kept = Object.freeze(frames);
    if (this.size >= this.max) this.clear();
    const h = hash(words, salt);
    const entry = { salt, words: words.slice(), frames: kept };
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
