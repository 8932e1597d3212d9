// Kernel symbols from /proc/kallsyms, for kernel stacks. Text symbols only; every kernel text
// address (core and modules) lies in 0xffffffff00000000 and up, so a symbol is kept as its low 32
// bits and lookups are plain number binary searches.
import { readFileSync } from 'node:fs';

export class KernelSymbols {
  private constructor(private readonly addrs: Float64Array, private readonly names: string[]) {}

  static load(path = '/proc/kallsyms'): KernelSymbols {
    const entries: Array<[number, string]> = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t foo\t[module]"
      const sp1 = line.indexOf(' ');
      if (sp1 !== 16 || !line.startsWith('ffffffff')) continue;
      const type = line[17];
      if (type !== 't' && type !== 'T' && type !== 'w' && type !== 'W') continue;
      const lo = parseInt(line.slice(8, 16), 16);
      if (lo === 0) continue; // addresses hidden (kptr_restrict): nothing to symbolize with
      const rest = line.slice(19);
      const tab = rest.indexOf('\t');
      entries.push([lo, tab < 0 ? rest : `${rest.slice(0, tab)} ${rest.slice(tab + 1)}`]);
    }
    entries.sort((a, b) => a[0] - b[0]);
    return new KernelSymbols(Float64Array.from(entries, e => e[0]), entries.map(e => e[1]));
  }

  get size(): number { return this.names.length; }

  /** "do_nanosleep+0x6a", or "0xffffffff81234567" when unknown. `ret`: a return address (look up addr - 1). */
  symbolize(addr: bigint, ret = true): string {
    const hex = `0x${addr.toString(16)}`;
    if (addr >> 32n !== 0xffffffffn) return hex;
    const lo = Number(addr & 0xffffffffn);
    const key = ret ? lo - 1 : lo;
    let a = 0, b = this.addrs.length - 1, found = -1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      if (this.addrs[m] <= key) { found = m; a = m + 1; } else b = m - 1;
    }
    if (found < 0) return hex;
    return `${this.names[found]}+0x${(lo - this.addrs[found]).toString(16)}`;
  }
}
