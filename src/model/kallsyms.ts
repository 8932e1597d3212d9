// Kernel addresses to symbols, from /proc/kallsyms (what perf and bpftrace use too): the frames of
// kernel stacks (off-CPU intervals, kernel lock contention) and the addresses of kernel locks.
//
// Held as a compact index, not as strings: ~120k symbols as JS strings and arrays took 46-56 MB of
// RSS, and the attach daemon must stay under 100 MB. Every kernel address (core, modules, BPF) lies
// at 0xffffffff00000000 and up, so a symbol's address is its low 32 bits in a Uint32Array; its line
// ("name" or "name\t[module]") stays bytes in one Buffer, decoded only when an address is looked up.
// About 4 MB for this kernel. The file is read and indexed in C (native/kallsyms.c), off the event
// loop when asked (loadAsync).
import { indexKallsyms, indexKallsymsSync, indexKallsymsText, type KallsymsIndex } from '../sys/libc.js';

export interface KernelSymbol {
  name: string;
  /** addr - the symbol's address */
  offset: bigint;
  module?: string;
  /** A data symbol (d D b B r R): a variable, not a function. */
  data: boolean;
}

/**
 * With CONFIG_KALLSYMS_ALL kallsyms lists tens of thousands of data symbols; without it only a few
 * section markers (__start_rodata...), and "marker+0x1234" would name nothing. Below this many data
 * symbols, kernel data addresses are not symbolized at all.
 */
const MIN_DATA_SYMBOLS = 1000;
const HI = 0xffffffffn;
const isData = (t: number) => t === 0x64 || t === 0x44 || t === 0x62 || t === 0x42 || t === 0x72 || t === 0x52; // dDbBrR
const FRAME_CACHE = 50_000;
const INDEX_SPAN = 2 ** 21; // symbols a kernel may list (2M): the packed sort key's index part

export class KernelSymbols {
  private readonly frames = new Map<bigint, string>();

  private constructor(
    private readonly lo: Uint32Array,      // sorted
    private readonly type: Uint8Array,
    private readonly nameAt: Uint32Array,
    private readonly nameLen: Uint16Array,
    private readonly names: Buffer,
    /** Whether kallsyms lists data symbols (CONFIG_KALLSYMS_ALL): only then can a lock's address be named. */
    readonly hasData: boolean,
  ) {}

  /** Reads this kernel's /proc/kallsyms (~50 ms, the kernel formatting it), indexed in C (native/kallsyms.c). */
  static load(path = '/proc/kallsyms'): KernelSymbols {
    return indexKallsymsSync(path, KernelSymbols.build);
  }

  /** From kallsyms text (tests, fixtures). */
  static parse(text: string): KernelSymbols {
    return indexKallsymsText(Buffer.from(text, 'latin1'), KernelSymbols.build);
  }

  /** load() on libuv's pool: the event loop runs meanwhile, and is held only to copy the index. */
  static loadAsync(path = '/proc/kallsyms'): Promise<KernelSymbols> {
    return indexKallsyms(path, KernelSymbols.build);
  }

  /**
   * The index, sorted by address, copied out of the C index it is handed (freed after). vmlinux's
   * symbols come sorted, modules' and BPF's follow in their own order: sorted as packed numbers
   * (address * 2^21 + index, exact below 2^53) by the typed array's own numeric sort, ~5x faster than
   * a comparator over an index array.
   */
  private static build(this: void, b: KallsymsIndex): KernelSymbols {
    const n = b.lo.length;
    if (n > INDEX_SPAN) throw new Error(`kallsyms lists ${n} symbols, more than procimage indexes (${INDEX_SPAN})`);
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = b.lo[i] * INDEX_SPAN + i;
    keys.sort();
    const lo = new Uint32Array(n), type = new Uint8Array(n), nameAt = new Uint32Array(n), nameLen = new Uint16Array(n);
    for (let k = 0; k < n; k++) {
      const i = keys[k] % INDEX_SPAN;
      lo[k] = b.lo[i]; type[k] = b.type[i]; nameAt[k] = b.nameAt[i]; nameLen[k] = b.nameLen[i];
    }
    return new KernelSymbols(lo, type, nameAt, nameLen, Buffer.from(b.names), b.data >= MIN_DATA_SYMBOLS);
  }

  get size(): number { return this.lo.length; }

  /** The closest symbol at or below addr; undefined below every symbol or outside kernel space. */
  lookup(addr: bigint): KernelSymbol | undefined {
    if (addr >> 32n !== HI) return undefined;
    const key = Number(addr & HI);
    let a = 0, z = this.lo.length - 1, found = -1;
    while (a <= z) {
      const m = (a + z) >>> 1;
      if (this.lo[m] <= key) { found = m; a = m + 1; } else z = m - 1;
    }
    if (found < 0) return undefined;
    const line = this.names.toString('latin1', this.nameAt[found], this.nameAt[found] + this.nameLen[found]);
    const tab = line.indexOf('\t');
    const module = tab < 0 ? undefined : line.slice(tab + 1).replace(/^\[|\]$/g, '');
    return {
      name: tab < 0 ? line : line.slice(0, tab), offset: BigInt(key - this.lo[found]),
      ...(module ? { module } : {}), data: isData(this.type[found]),
    };
  }

  /**
   * Where the function `name` of the kernel proper (not a module's) lies: [lo, hi), hi the next
   * symbol's address. A linear scan (~1 ms for 200,000 symbols): for the few functions the BPF side
   * is told about (bpf/kmemo.bpf.h), once per session.
   */
  range(name: string): { lo: bigint; hi: bigint } | undefined {
    const want = Buffer.from(name, 'latin1');
    for (let i = 0; i < this.lo.length; i++) {
      if (this.nameLen[i] !== want.length || isData(this.type[i])) continue;
      if (this.names.compare(want, 0, want.length, this.nameAt[i], this.nameAt[i] + want.length) !== 0) continue;
      let j = i + 1;
      while (j < this.lo.length && this.lo[j] === this.lo[i]) j++;
      if (j >= this.lo.length) return undefined;
      return { lo: HI << 32n | BigInt(this.lo[i]), hi: HI << 32n | BigInt(this.lo[j]) };
    }
    return undefined;
  }

  /**
   * A stack frame: "do_nanosleep+0x6a" ("func+0x1a [module]"), or "0xffffffff81234567" when no
   * function contains it. `ret`: a return address, whose call lies before it (look up addr - 1).
   */
  symbolize(addr: bigint, ret = true): string {
    const key = ret ? addr | 1n << 64n : addr; // one cache for both kinds
    let s = this.frames.get(key);
    if (s !== undefined) return s;
    const sym = this.lookup(ret ? addr - 1n : addr);
    s = sym && !sym.data ? formatKernelSymbol({ ...sym, offset: sym.offset + (ret ? 1n : 0n) }) : `0x${addr.toString(16)}`;
    if (this.frames.size >= FRAME_CACHE) this.frames.clear();
    this.frames.set(key, s);
    return s;
  }
}

/** "func+0x1a" or "func+0x1a [module]". */
export function formatKernelSymbol(s: KernelSymbol): string {
  return `${s.name}+0x${s.offset.toString(16)}${s.module ? ` [${s.module}]` : ''}`;
}
