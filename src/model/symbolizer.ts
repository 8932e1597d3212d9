// The Symbolizer the session hands to collectors (src/collect/symbols.ts): kernel addresses through
// kallsyms, user addresses through the mapped files' ELF symbols. Results are cached per address.
// The kernel's symbols are read ahead (refreshKernel), not at the first lookup: reading kallsyms takes
// ~75 ms, which must not fall on an activation.
import type { Symbolizer, UserFrames } from '../collect/symbols.js';
import type { Mapping } from '../sys/procmaps.js';
import { KernelSymbols, formatKernelSymbol } from './kallsyms.js';
import { ModuleTable } from './modules.js';
import { UserSymbols, type UserFrame } from './usersyms.js';

const MAX_CACHED = 100_000;

export class SystemSymbolizer implements Symbolizer {
  /** Kernel addresses already looked up: a frame ("func+0x1a") and, for locks, a data symbol or null. */
  private readonly kernelText = new Map<bigint, string>();
  private readonly kernelVar = new Map<bigint, string | null>();
  private user: UserSymbols;
  /** By "tgid:address"; forgotten with the processes, and with them the module ids of the locations. */
  private readonly userCache = new Map<string, UserFrame>();

  private ksyms: KernelSymbols | undefined;
  /** A re-read of kallsyms in progress (refreshKernelAsync). */
  private refreshing: Promise<void> | undefined;

  /** modules: numbers the files of user locations, shared with the off-CPU stacks' symbolizer. */
  constructor(private readonly modules = new ModuleTable()) {
    this.user = new UserSymbols(modules);
  }

  /** The kernel's symbols as of the last refresh (read now if never read). */
  get kernel(): KernelSymbols {
    if (!this.ksyms) this.refreshKernel();
    return this.ksyms!;
  }

  /**
   * Reads kallsyms again: modules and BPF programs come and go. Called when the session loads (and
   * after each deactivation, as refreshKernelAsync), never on an activation's path. Without kallsyms (unreadable, or every
   * address hidden by kptr_restrict) nothing kernel is named.
   */
  refreshKernel(): void {
    let k: KernelSymbols;
    try {
      k = KernelSymbols.load();
    } catch {
      k = KernelSymbols.parse('');
    }
    this.useKernel(k);
  }

  /**
   * refreshKernel() without holding the event loop for the whole read (~65 ms): the old symbols serve
   * until the new ones are complete (an activation that starts meanwhile is not kept waiting).
   */
  refreshKernelAsync(): Promise<void> {
    // deactivations in quick succession share one read
    return this.refreshing ??= this.readKernelAsync().finally(() => { this.refreshing = undefined; });
  }

  private async readKernelAsync(): Promise<void> {
    let k: KernelSymbols;
    try {
      k = await KernelSymbols.loadAsync();
    } catch {
      if (this.ksyms) return; // a failed re-read keeps the symbols already read
      k = KernelSymbols.parse('');
    }
    this.useKernel(k);
  }

  private useKernel(k: KernelSymbols): void {
    this.ksyms = k;
    this.kernelText.clear();
    this.kernelVar.clear();
  }

  private resolveKernel(addrs: readonly bigint[]): void {
    if (this.kernelText.size + addrs.length > MAX_CACHED) {
      this.kernelText.clear();
      this.kernelVar.clear();
    }
    const k = this.kernel;
    for (const a of addrs) {
      if (this.kernelText.has(a)) continue;
      const s = k.lookup(a);
      this.kernelText.set(a, s && !s.data ? formatKernelSymbol(s) : '[unknown]');
      this.kernelVar.set(a, s && s.data && k.hasData ? formatKernelSymbol(s) : null);
    }
  }

  /** Forgets what it knows of processes (at each activation: their pids may have been reused since). */
  forgetProcesses(): void {
    this.user = new UserSymbols(this.modules);
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

  userStack(tgid: number, addrs: readonly bigint[]): UserFrames {
    if (this.userCache.size + addrs.length > MAX_CACHED) this.userCache.clear(); // before: every address stays until read below
    const missing = addrs.filter(a => !this.userCache.has(`${tgid}:${a}`));
    if (missing.length) this.user.symbolize(tgid, missing).forEach((f, i) => this.userCache.set(`${tgid}:${missing[i]}`, f));
    const frames = addrs.map(a => this.userCache.get(`${tgid}:${a}`)!);
    return { frames: frames.map(f => f.frame), locs: frames.map(f => f.loc) };
  }
}
