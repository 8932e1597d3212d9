// Kernel addresses to symbols, from /proc/kallsyms (what perf and bpftrace use too). Generic: any
// category's kernel stacks or kernel data addresses go through it.
//
// Nothing of the file is kept: ~120k symbols held as strings took 56 MB of RSS (the attach daemon
// must stay under 100 MB), and even a compact index ~20 MB. Instead a lookup of a batch of new
// addresses reads the file in small chunks, keeping for each address the closest symbol at or below
// it; callers cache the answers (addresses in the kernel do not move) and ask in batches.
import { closeSync, openSync, readSync } from 'node:fs';

export interface KernelSymbol {
  name: string;
  offset: bigint;
  module?: string;
  /** A data symbol (d D b B r R): a variable, not a function. */
  data: boolean;
}

/** kallsyms' data types: initialised/zeroed data and read-only data, global or local. */
const DATA_TYPES = new Set(['d', 'D', 'b', 'B', 'r', 'R']);
/**
 * With CONFIG_KALLSYMS_ALL kallsyms lists tens of thousands of data symbols; without it only a few
 * section markers (__start_rodata...), and "marker+0x1234" would name nothing. Below this many data
 * symbols, kernel data addresses are not symbolized at all.
 */
const MIN_DATA_SYMBOLS = 1000;
const CHUNK = 256 << 10;

export interface KallsymsAnswer {
  /** The closest symbol at or below each address asked (undefined below every symbol). */
  symbols: Map<bigint, KernelSymbol | undefined>;
  /** Whether kallsyms lists data symbols (CONFIG_KALLSYMS_ALL): only then can a lock's address be named. */
  hasData: boolean;
}

const NL = 0x0a, SPACE = 0x20;

/**
 * Calls onLine(buf, start, end, index) for each line of the text `read` hands out, chunk by chunk,
 * without making a string of it: a pass over 120k lines then leaves no garbage behind.
 */
function eachLine(read: (buf: Buffer) => number, onLine: (buf: Buffer, start: number, end: number, index: number) => void): void {
  let buf = Buffer.alloc(CHUNK);
  let held = 0, index = 0; // bytes of an unfinished line carried over at the start of buf
  for (;;) {
    if (held === buf.length) { // a line longer than the buffer: grow it
      const bigger = Buffer.alloc(buf.length * 2);
      buf.copy(bigger, 0, 0, held);
      buf = bigger;
    }
    const n = read(buf.subarray(held));
    const end = held + n;
    let start = 0;
    for (let nl = buf.indexOf(NL, start); nl >= 0 && nl < end; nl = buf.indexOf(NL, start)) {
      onLine(buf, start, nl, index++);
      start = nl + 1;
    }
    if (n === 0) {
      if (start < end) onLine(buf, start, end, index++);
      return;
    }
    buf.copy(buf, 0, start, end);
    held = end - start;
  }
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * The closest symbol at or below each address. Two passes over the text (`open` starts one): the
 * first keeps only each symbol's address, as two u32 halves, and whether it is data (~1.5 MB for 120k
 * symbols, dropped after); the second turns only the lines of the symbols found into strings.
 */
export function resolveKallsyms(addrs: Iterable<bigint>, open: () => (buf: Buffer) => number): KallsymsAnswer {
  const want = [...new Set(addrs)];
  let cap = 1 << 17, n = 0, data = 0;
  let hi = new Uint32Array(cap), lo = new Uint32Array(cap), line = new Uint32Array(cap);
  eachLine(open(), (b, start, end, index) => {
    // "ffffffff81000000 T _stext" or "ffffffffc0001000 t mod_fn\t[mymod]"
    let h = 0, l = 0, p = start;
    for (; p < end && p - start < 16; p++) {
      const v = hexDigit(b[p]);
      if (v < 0) break;
      h = ((h << 4) | (l >>> 28)) >>> 0;
      l = ((l << 4) | v) >>> 0;
    }
    if (p === start || b[p] !== SPACE || p + 3 > end || (h === 0 && l === 0)) return; // kptr_restrict zeroes them
    if (DATA_TYPES.has(String.fromCharCode(b[p + 1]))) data++;
    if (n === cap) {
      cap *= 2;
      const [h2, l2, i2] = [new Uint32Array(cap), new Uint32Array(cap), new Uint32Array(cap)];
      h2.set(hi);
      l2.set(lo);
      i2.set(line);
      [hi, lo, line] = [h2, l2, i2];
    }
    hi[n] = h;
    lo[n] = l;
    line[n++] = index;
  });
  // vmlinux's symbols come sorted; modules' and BPF's follow in their own order
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((x, y) => hi[x] - hi[y] || lo[x] - lo[y]);
  const floorLine = new Map<bigint, number>();
  for (const w of want) {
    const wh = Number(w >> 32n), wl = Number(w & 0xffffffffn);
    let a = 0, z = n - 1, found = -1;
    while (a <= z) {
      const mid = (a + z) >>> 1, i = order[mid];
      if (hi[i] < wh || (hi[i] === wh && lo[i] <= wl)) { found = mid; a = mid + 1; } else z = mid - 1;
    }
    if (found >= 0) floorLine.set(w, line[order[found]]);
  }
  const needed = new Map<number, string>();
  for (const l of floorLine.values()) needed.set(l, '');
  if (needed.size) eachLine(open(), (b, start, end, index) => { if (needed.has(index)) needed.set(index, b.toString('latin1', start, end)); });

  const symbols = new Map<bigint, KernelSymbol | undefined>();
  for (const w of want) {
    const l = floorLine.has(w) ? needed.get(floorLine.get(w)!) : undefined;
    if (!l) {
      symbols.set(w, undefined);
      continue;
    }
    const sp = l.indexOf(' '), tab = l.indexOf('\t', sp + 3);
    const mod = tab < 0 ? undefined : l.slice(tab + 1).replace(/^\[|\]$/g, '');
    symbols.set(w, { name: l.slice(sp + 3, tab < 0 ? undefined : tab), offset: w - BigInt(`0x${l.slice(0, sp)}`),
      ...(mod ? { module: mod } : {}), data: DATA_TYPES.has(l[sp + 1]) });
  }
  return { symbols, hasData: data >= MIN_DATA_SYMBOLS };
}

/** resolveKallsyms over a string (tests, fixtures). */
export function resolveKallsymsText(addrs: Iterable<bigint>, text: string): KallsymsAnswer {
  const all = Buffer.from(text, 'latin1');
  return resolveKallsyms(addrs, () => {
    let pos = 0;
    return buf => {
      const n = all.copy(buf, 0, pos, Math.min(all.length, pos + buf.length));
      pos += n;
      return n;
    };
  });
}

/** resolveKallsyms over this kernel's /proc/kallsyms. */
export function resolveKernelAddresses(addrs: Iterable<bigint>, path = '/proc/kallsyms'): KallsymsAnswer {
  const fds: number[] = [];
  try {
    return resolveKallsyms(addrs, () => {
      const fd = openSync(path, 'r');
      fds.push(fd);
      return buf => readSync(fd, buf, 0, buf.length, null);
    });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** "func+0x1a" or "func+0x1a [module]". */
export function formatKernelSymbol(s: KernelSymbol): string {
  return `${s.name}+0x${s.offset.toString(16)}${s.module ? ` [${s.module}]` : ''}`;
}
