// The Symbolizer the session hands to collectors (src/collect/symbols.ts): kernel addresses through
// kallsyms, user addresses through the mapped files' ELF symbols. Results are cached per address.
import type { Symbolizer } from '../collect/symbols.js';
import type { Mapping } from '../sys/procmaps.js';
import { Kallsyms, formatKernelSymbol } from './kallsyms.js';
import { UserSymbols } from './usersyms.js';

const MAX_CACHED = 100_000;

export class SystemSymbolizer implements Symbolizer {
  private kallsyms: Kallsyms | null | undefined;
  private user = new UserSymbols();
  private readonly userCache = new Map<string, string>();

  private ksyms(): Kallsyms | null {
    if (this.kallsyms === undefined) {
      try {
        this.kallsyms = Kallsyms.load();
      } catch {
        this.kallsyms = null;
      }
    }
    return this.kallsyms;
  }

  /** Forgets what it knows of processes (at each activation: their pids may have been reused since). */
  forgetProcesses(): void {
    this.user = new UserSymbols();
    this.userCache.clear();
  }

  kernelStack(addrs: readonly bigint[]): string[] {
    const k = this.ksyms();
    return addrs.map(a => {
      const s = k?.lookup(a);
      return s ? formatKernelSymbol(s) : '[unknown]';
    });
  }

  kernelData(addr: bigint): string | null {
    const s = this.ksyms()?.lookupData(addr);
    return s ? formatKernelSymbol(s) : null;
  }

  addMaps(tgid: number, maps: Mapping[]): void {
    this.user.addMaps(tgid, maps);
  }

  userStack(tgid: number, addrs: readonly bigint[]): string[] {
    const missing = addrs.filter(a => !this.userCache.has(`${tgid}:${a}`));
    if (missing.length) {
      const names = this.user.symbolize(tgid, missing);
      if (this.userCache.size + names.length > MAX_CACHED) this.userCache.clear();
      missing.forEach((a, i) => this.userCache.set(`${tgid}:${a}`, names[i]));
    }
    return addrs.map(a => this.userCache.get(`${tgid}:${a}`)!);
  }
}
