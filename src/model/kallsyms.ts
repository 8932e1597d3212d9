// Kernel addresses to symbols, from /proc/kallsyms (what perf and bpftrace use too). Generic: any
// category's kernel stacks or kernel data addresses go through it. Loaded once, lazily: ~120k lines
// take tens of milliseconds to parse, which nothing should pay before a kernel address shows up.
import { readFileSync } from 'node:fs';

export interface KernelSymbol {
  name: string;
  offset: bigint;
  module?: string;
}

/** kallsyms' data types: initialised/zeroed data and read-only data, global or local. */
const DATA_TYPES = new Set(['d', 'D', 'b', 'B', 'r', 'R']);
/**
 * With CONFIG_KALLSYMS_ALL kallsyms lists tens of thousands of data symbols; without it only a few
 * section markers (__start_rodata...), and "marker+0x1234" would name nothing. Below this many data
 * symbols, kernel data addresses are not symbolized at all.
 */
const MIN_DATA_SYMBOLS = 1000;

export class Kallsyms {
  private readonly addrs: BigUint64Array;
  private readonly names: string[];
  private readonly types: string[];
  private readonly modules: Array<string | undefined>;
  /** kallsyms lists data symbols (CONFIG_KALLSYMS_ALL), so that a lock's address can be named. */
  readonly hasData: boolean;

  constructor(text: string) {
    const rows: Array<[bigint, string, string, string | undefined]> = [];
    let data = 0;
    for (const line of text.split('\n')) {
      const m = /^([0-9a-f]+) (\S) (\S+)(?:\t\[(\S+)\])?/.exec(line);
      if (!m) continue;
      const addr = BigInt(`0x${m[1]}`);
      if (addr === 0n) continue; // kptr_restrict hides every address: nothing to look up
      rows.push([addr, m[2], m[3], m[4]]);
      if (DATA_TYPES.has(m[2])) data++;
    }
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.addrs = BigUint64Array.from(rows.map(r => r[0]));
    this.types = rows.map(r => r[1]);
    this.names = rows.map(r => r[2]);
    this.modules = rows.map(r => r[3]);
    this.hasData = data >= MIN_DATA_SYMBOLS;
  }

  static load(path = '/proc/kallsyms'): Kallsyms {
    return new Kallsyms(readFileSync(path, 'utf8'));
  }

  get size(): number { return this.addrs.length; }

  /** Index of the last symbol at or below addr, or -1. */
  private floor(addr: bigint): number {
    const a = this.addrs;
    let lo = 0, hi = a.length - 1, at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid] <= addr) { at = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return at;
  }

  /** The function a kernel text address (a stack frame) is in. */
  lookup(addr: bigint): KernelSymbol | undefined {
    const i = this.floor(addr);
    if (i < 0 || DATA_TYPES.has(this.types[i])) return undefined;
    return { name: this.names[i], offset: addr - this.addrs[i], module: this.modules[i] };
  }

  /** The data symbol a kernel address lies in (a static lock), or undefined (heap, per-CPU, no data symbols). */
  lookupData(addr: bigint): KernelSymbol | undefined {
    if (!this.hasData) return undefined;
    const i = this.floor(addr);
    if (i < 0 || !DATA_TYPES.has(this.types[i]) || i + 1 >= this.addrs.length) return undefined;
    return { name: this.names[i], offset: addr - this.addrs[i], module: this.modules[i] };
  }
}

/** "func+0x1a" or "func+0x1a [module]". */
export function formatKernelSymbol(s: KernelSymbol): string {
  return `${s.name}+0x${s.offset.toString(16)}${s.module ? ` [${s.module}]` : ''}`;
}
