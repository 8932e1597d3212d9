// Kernel addresses to symbols, from /proc/kallsyms (what perf and bpftrace use too): the frames of
// kernel stacks (off-CPU intervals, kernel lock contention) and the addresses of kernel locks.
//
// Held as a compact index, not as strings: ~120k symbols as JS strings and arrays took 46-56 MB of
// RSS, and the attach daemon must stay under 100 MB. Every kernel address (core, modules, BPF) lies
// at 0xffffffff00000000 and up, so a symbol's address is its low 32 bits in a Uint32Array; its line
// ("name" or "name\t[module]") stays bytes in one Buffer, decoded only when an address is looked up.
// About 4 MB for this kernel.
import { closeSync, openSync, readSync } from 'node:fs';
import { readWholeFile } from '../sys/libc.js';

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
const CHUNK = 256 << 10;
/** loadAsync: CHUNKs parsed between two turns of the event loop (~5-10 ms of parsing). */
const PARSE_SLICES = 4;
const NL = 0x0a, SPACE = 0x20;
const HI = 0xffffffffn;
const isData = (t: number) => t === 0x64 || t === 0x44 || t === 0x62 || t === 0x42 || t === 0x72 || t === 0x52; // dDbBrR
const FRAME_CACHE = 50_000;
const INDEX_SPAN = 2 ** 21; // symbols a kernel may list (2M): the packed sort key's index part

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

type OnLine = (buf: Buffer, start: number, end: number) => void;

/**
 * Splits text read chunk by chunk into lines, without making a string of it: read into `space`,
 * then `took(n)` calls onLine(buf, start, end) for each line complete so far (n = 0: the end).
 */
class Lines {
  private buf = Buffer.alloc(CHUNK);
  private held = 0; // bytes of an unfinished line carried over at the start of buf

  constructor(private readonly onLine: OnLine) {}

  get space(): Buffer {
    if (this.held === this.buf.length) { // a line longer than the buffer: grow it
      const bigger = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.held);
      this.buf = bigger;
    }
    return this.buf.subarray(this.held);
  }

  took(n: number): void {
    const buf = this.buf, end = this.held + n;
    let start = 0;
    for (let nl = buf.indexOf(NL, start); nl >= 0 && nl < end; nl = buf.indexOf(NL, start)) {
      this.onLine(buf, start, nl);
      start = nl + 1;
    }
    if (n === 0) {
      if (start < end) this.onLine(buf, start, end);
      this.held = 0;
      return;
    }
    buf.copy(buf, 0, start, end);
    this.held = end - start;
  }
}

/** The line parser that feeds a Builder: "ffffffff81000000 T _stext" or "ffffffffc0001000 t mod_fn\t[mymod]". */
function parser(b: Builder): OnLine {
  return (buf, start, end) => {
    if (end - start < 20 || buf[start + 16] !== SPACE || buf[start + 18] !== SPACE) return;
    let hi = 0, lo = 0;
    for (let p = start; p < start + 16; p++) {
      const v = hexDigit(buf[p]);
      if (v < 0) return;
      if (p < start + 8) hi = (hi << 4 | v) >>> 0; else lo = (lo << 4 | v) >>> 0;
    }
    // kptr_restrict shows zeroes; per-CPU symbols are offsets, not addresses: neither names anything
    if (hi !== 0xffffffff) return;
    b.add(lo, buf[start + 17], buf, start + 19, end);
  };
}

/** A growable byte buffer and u32/u8 columns, for building the index in one pass. */
class Builder {
  n = 0;
  lo = new Uint32Array(1 << 17);
  type = new Uint8Array(1 << 17);
  nameAt = new Uint32Array(1 << 17);
  nameLen = new Uint16Array(1 << 17);
  names = Buffer.alloc(4 << 20);
  used = 0;
  data = 0;

  add(lo: number, type: number, src: Buffer, start: number, end: number): void {
    if (this.n === this.lo.length) {
      const grow = <T extends Uint32Array | Uint8Array | Uint16Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.lo = grow(this.lo);
      this.type = grow(this.type);
      this.nameAt = grow(this.nameAt);
      this.nameLen = grow(this.nameLen);
    }
    const len = Math.min(end - start, 0xffff);
    if (this.used + len > this.names.length) {
      const bigger = Buffer.alloc(this.names.length * 2);
      this.names.copy(bigger, 0, 0, this.used);
      this.names = bigger;
    }
    src.copy(this.names, this.used, start, start + len);
    this.lo[this.n] = lo;
    this.type[this.n] = type;
    this.nameAt[this.n] = this.used;
    this.nameLen[this.n++] = len;
    this.used += len;
    if (isData(type)) this.data++;
  }
}

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

  /** Reads this kernel's /proc/kallsyms (~100 ms). */
  static load(path = '/proc/kallsyms'): KernelSymbols {
    const fd = openSync(path, 'r');
    try {
      return KernelSymbols.read(buf => readSync(fd, buf, 0, buf.length, null));
    } finally {
      closeSync(fd);
    }
  }

  /** From kallsyms text (tests, fixtures). */
  static parse(text: string): KernelSymbols {
    const all = Buffer.from(text, 'latin1');
    let pos = 0;
    return KernelSymbols.read(buf => {
      const n = all.copy(buf, 0, pos, Math.min(all.length, pos + buf.length));
      pos += n;
      return n;
    });
  }

  /**
   * Reads kallsyms without holding the event loop: the read (the kernel formatting the text, half the
   * time) runs on libuv's pool in one go, then the main thread parses it a slice at a time, letting
   * the event loop run between slices.
   */
  static async loadAsync(path = '/proc/kallsyms'): Promise<KernelSymbols> {
    const text = await readWholeFile(path);
    let pos = 0, slices = 0;
    const b = new Builder();
    const lines = new Lines(parser(b));
    for (;;) {
      const space = lines.space;
      const n = text.copy(space, 0, pos, Math.min(text.length, pos + space.length));
      pos += n;
      lines.took(n);
      if (n === 0) return KernelSymbols.build(b);
      if (++slices % PARSE_SLICES === 0) await new Promise(r => setImmediate(r));
    }
  }

  /** From kallsyms text handed out in pieces by `read` (0: the end). */
  static read(read: (buf: Buffer) => number): KernelSymbols {
    const b = new Builder();
    const lines = new Lines(parser(b));
    for (;;) {
      const n = read(lines.space);
      lines.took(n);
      if (n === 0) return KernelSymbols.build(b);
    }
  }

  /**
   * The index from a Builder's columns, sorted by address. vmlinux's symbols come sorted, modules'
   * and BPF's follow in their own order: sorted as packed numbers (address * 2^21 + index, exact below
   * 2^53) by the typed array's own numeric sort, ~5x faster than a comparator over an index array.
   */
  private static build(b: Builder): KernelSymbols {
    const n = b.n;
    if (n > INDEX_SPAN) throw new Error(`kallsyms lists ${n} symbols, more than procimage indexes (${INDEX_SPAN})`);
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = b.lo[i] * INDEX_SPAN + i;
    keys.sort();
    const lo = new Uint32Array(n), type = new Uint8Array(n), nameAt = new Uint32Array(n), nameLen = new Uint16Array(n);
    for (let k = 0; k < n; k++) {
      const i = keys[k] % INDEX_SPAN;
      lo[k] = b.lo[i]; type[k] = b.type[i]; nameAt[k] = b.nameAt[i]; nameLen[k] = b.nameLen[i];
    }
    return new KernelSymbols(lo, type, nameAt, nameLen, Buffer.from(b.names.subarray(0, b.used)), b.data >= MIN_DATA_SYMBOLS);
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
