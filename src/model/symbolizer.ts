// The Symbolizer the session hands to collectors (src/collect/symbols.ts): kernel addresses through
// kallsyms, user addresses through the mapped files' ELF symbols. Results are cached per address.
import type { Symbolizer } from '../collect/symbols.js';
import type { Mapping } from '../sys/procmaps.js';
import { formatKernelSymbol, resolveKernelAddresses } from './kallsyms.js';
import { UserSymbols } from './usersyms.js';

const MAX_CACHED = 100_000;

export class SystemSymbolizer implements Symbolizer {
  /** Kernel addresses already looked up: a frame ("func+0x1a") and, for locks, a data symbol or null. */
  private readonly kernelText = new Map<bigint, string>();
  private readonly kernelVar = new Map<bigint, string | null>();
  private user = new UserSymbols();
  private readonly userCache = new Map<string, string>();

  /** Looks up, in one pass over kallsyms, every address not cached yet. */
  private resolveKernel(addrs: readonly bigint[]): void {
    const missing = addrs.filter(a => !this.kernelText.has(a));
    if (!missing.length) return;
    if (this.kernelText.size + missing.length > MAX_CACHED) {
      this.kernelText.clear();
      this.kernelVar.clear();
    }
    let answer;
    try {
      answer = resolveKernelAddresses(missing);
    } catch {
      for (const a of missing) { this.kernelText.set(a, '[unknown]'); this.kernelVar.set(a, null); }
      return;
    }
    for (const a of missing) {
      const s = answer.symbols.get(a);
      this.kernelText.set(a, s && !s.data ? formatKernelSymbol(s) : '[unknown]');
      this.kernelVar.set(a, s && s.data && answer.hasData ? formatKernelSymbol(s) : null);
    }
  }

  /** Forgets what it knows of processes (at each activation: their pids may have been reused since). */
  forgetProcesses(): void {
    this.user = new UserSymbols();
    this.userCache.clear();
  }

  kernelStack(addrs: readonly bigint[]): string[] {
    this.resolveKernel(addrs);
    return addrs.map(a => this.kernelText.get(a)!);
  }

  kernelData(addr: bigint): string | null {
    this.resolveKernel([addr]);
    return this.kernelVar.get(addr)!;
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
