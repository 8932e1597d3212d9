// Stacks as people read them: kernel frames from /proc/kallsyms, user frames unwound (DWARF) or
// taken as they are (frame pointers) and symbolized from the ELF files each process had mapped.
import { basename } from 'node:path';
import { Unwinder, type Frame } from '../bpf/index.js';
import type { Clock } from '../collect/clock.js';
import type { SwitchOut } from '../collect/records.js';
import { AddressSpaces } from './addrspaces.js';
import { KernelSymbols } from './kallsyms.js';

const CACHE = 20_000; // symbolized stacks kept (stacks repeat: a thread blocks in the same places)

const hex = (a: bigint) => `0x${a.toString(16)}`;
const TRACING_FRAME = /^(bpf_prog_|bpf_trace_run|__bpf_trace_)/;

/** "nanosleep+0x16 (libc.so.6)", with " demo.c:42" when the module has line info. */
export function formatFrame(f: Frame, pc: bigint): string {
  const mod = f.module ? ` (${f.module.startsWith('[') ? f.module : basename(f.module)})` : '';
  // versioned names ("__libc_start_main@@GLIBC_2.34") read better plain, as perf prints them
  const where = f.symbol ? `${f.symbol.replace(/@.*/, '')}+0x${f.offset.toString(16)}` : hex(pc);
  return `${where}${mod}${f.file ? ` ${basename(f.file)}:${f.line}` : ''}`;
}

export class StackResolver {
  private readonly unwinder = new Unwinder();
  readonly spaces: AddressSpaces;
  private readonly ksyms = KernelSymbols.load();
  private readonly cache = new Map<string, string[]>();

  constructor(clock: Clock) {
    this.spaces = new AddressSpaces(this.unwinder, clock);
  }

  /** Kernel frames, without procimage's own (its BPF program and the tracepoint's caller). */
  kernel(addrs: BigUint64Array): string[] {
    const frames = Array.from(addrs, (a, i) => this.ksyms.symbolize(a, i > 0));
    let skip = 0;
    while (skip < frames.length && TRACING_FRAME.test(frames[skip])) skip++;
    return frames.slice(skip);
  }

  /**
   * The user stack of a switch-out, against the address space as it was at the capture: unwound now
   * (the stack copy is only valid during dispatch).
   */
  user(r: SwitchOut): string[] {
    const first = r.stack_mode === 'dwarf' ? r.dwarf?.regs[0] : r.ustack[0];
    if (r.stack_mode === 'none' || first === undefined) return [];
    this.spaces.advance(r.ts_ns);
    const space = this.spaces.spaceFor(r.tgid, r.exe_ino);
    if (space === undefined) return r.stack_mode === 'dwarf' ? [hex(first)] : Array.from(r.ustack, hex);
    let pcs: bigint[];
    if (r.stack_mode === 'dwarf') {
      const d = r.dwarf!;
      let got = this.unwinder.unwind(space, r.tgid, r.pid, d.regs, d.base, d.stack);
      if (got === undefined && this.spaces.redefine(space)) got = this.unwinder.unwind(space, r.tgid, r.pid, d.regs, d.base, d.stack);
      pcs = got ?? [first];
    } else {
      pcs = Array.from(r.ustack);
    }
    return this.symbolize(space, pcs);
  }

  private symbolize(space: number, pcs: bigint[]): string[] {
    const key = `${space}:${pcs.join(',')}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let frames = this.unwinder.symbolize(space, pcs);
    if (frames === undefined && this.spaces.redefine(space)) frames = this.unwinder.symbolize(space, pcs);
    const out = frames ? frames.map((f, i) => formatFrame(f, pcs[i])) : pcs.map(hex);
    if (this.cache.size >= CACHE) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, out);
    return out;
  }

  close(): void {
    this.unwinder.close();
  }
}
