// Stacks as people read them: kernel frames from /proc/kallsyms, user frames unwound (DWARF) or
// taken as they are (frame pointers) and symbolized from the ELF files each process had mapped.
// Each user frame also has a location for machines ("<module_id>+0x<file offset>", modules.ts):
// what pprof or Pyroscope need to symbolize it later, where procimage could not name it.
import { basename } from 'node:path';
import { Unwinder, type Frame } from '../bpf/index.js';
import type { Clock } from '../collect/clock.js';
import type { SwitchOut } from '../collect/records.js';
import { AddressSpaces } from './addrspaces.js';
import type { KernelSymbols } from './kallsyms.js';
import { mappedPath, type ModuleTable } from './modules.js';
import { NO_FRAMES, StackCache } from './stackcache.js';
import { FP_FRAMES, STACK_COPY_BYTES } from '../collect/keytime.js';
import type { UnwindTables } from './unwindtables.js';

/**
 * The kernel's unwinding (from tables) against libdwfl's (from the copy) on the same stacks: with
 * --stack dwarf-copy and PROCIMAGE_UNWIND_CHECK=1 the kernel sends both. same: identical frames, or
 * identical up to where the kernel stopped at its frame limit; deeper: libdwfl stopped at the copy's
 * end, the kernel's frames go on from the same ones; notInKernel: the tables could not take it.
 */
export interface UnwindCheck { compared: number; same: number; deeper: number; differ: number; notInKernel: number; examples: string[] }

/**
 * A user stack, innermost first, as frames and, parallel to them, locations (`ustack_locs`);
 * truncated: it goes on beyond what was captured.
 */
export interface UserStack { frames: readonly string[]; locs: readonly string[]; truncated: boolean }
/** What is kept per distinct stack: both arrays frozen, shared by every record of that stack. */
interface Symbolized { frames: readonly string[]; locs: readonly string[] }
const NO_STACK: UserStack = { frames: NO_FRAMES, locs: NO_FRAMES, truncated: false };

const CACHE = 50_000; // symbolized frames kept, by (file, address in the file)

const hex = (a: bigint) => `0x${a.toString(16)}`;
// __traceiter_*: the tracepoint's loop over its probes, in the stack only while another program
// (another procimage, perf, a BCC tool) shares the tracepoint; alone, a static call skips it.
const TRACING_FRAME = /^(bpf_prog_|bpf_trace_run|__bpf_trace_|__traceiter_)/;

/**
 * "nanosleep+0x16 (libc.so.6)", with " demo.c:42" when the module has line info; a frame of a file
 * without a symbol there (a stripped binary) as the file and the pc's offset in it,
 * "stress-ng+0x1a15", which tools can still resolve (`addr2line -e`, the unstripped build); the
 * runtime address "0x55b1..." only where not even the file offset is known. The frame format
 * src/collect/frames.ts parses.
 */
export function formatFrame(f: Frame, pc: bigint, fileOffset: number | undefined): string {
  const base = f.module.startsWith('[') ? f.module : basename(mappedPath(f.module));
  const line = f.file ? ` ${basename(f.file)}:${f.line}` : '';
  if (f.symbol) return `${f.symbol}+0x${f.offset.toString(16)} (${base})${line}`;
  return fileOffset === undefined ? hex(pc) : `${base}+0x${fileOffset.toString(16)}${line}`;
}

/** What a user stack capture holds: a switch-out's, or a waker's (frames unwound in the kernel only). */
export type UserCapture = Pick<SwitchOut, 'stack_mode' | 'ustack' | 'ustack_more' | 'tgid' | 'pid' | 'ts_ns' | 'exe_ino'> &
  Partial<Pick<SwitchOut, 'dwarf'>>;

export class StackResolver {
  private readonly unwinder = new Unwinder();
  readonly spaces: AddressSpaces;
  private readonly cache = new Map<string, string>();
  private readonly kernelStacks = new StackCache();
  private readonly userStacks = new StackCache<Symbolized>(4096); // per address space: a fork storm makes many
  private kernelStacksOf: KernelSymbols | undefined;
  /** While the kernel unwinds from tables: told of each stack it had to copy instead. */
  tables: UnwindTables | undefined;
  /** DWARF user stacks this activation: unwound in the kernel, and copied for libdwfl instead. */
  readonly unwound = { kernel: 0, copied: 0 }; // reset by the session at each activation's end
  /** Set to compare the kernel's frames with libdwfl's where a record has both. */
  check: UnwindCheck | undefined;

  /**
   * ksyms: the kernel's symbols as they are now (the session refreshes them between activations);
   * modules: numbers the files of the locations (forgotten with them at the end of an activation).
   */
  constructor(clock: Clock, private readonly ksyms: () => KernelSymbols, private readonly modules: ModuleTable) {
    this.spaces = new AddressSpaces(this.unwinder, clock);
  }

  /**
   * Kernel frames, without procimage's own (its BPF program and the tracepoint's caller): one frozen
   * array per distinct stack (StackCache). addrs may be a view of the ring batch.
   */
  kernel(addrs: BigUint64Array): readonly string[] {
    const ksyms = this.ksyms();
    if (ksyms !== this.kernelStacksOf) { // refreshed between activations: modules and BPF programs moved
      this.kernelStacks.clear();
      this.kernelStacksOf = ksyms;
    }
    return this.kernelStacks.get(new Uint32Array(addrs.buffer, addrs.byteOffset, addrs.length * 2), () => {
      const frames = Array.from(addrs, (a, i) => ksyms.symbolize(a, i > 0));
      let skip = 0;
      while (skip < frames.length && TRACING_FRAME.test(frames[skip])) skip++;
      return frames.slice(skip);
    });
  }

  /**
   * The user stack of a switch-out, against the address space as it was at the capture: unwound now
   * (the stack copy is only valid during dispatch). Symbolized once per distinct (space, version,
   * pcs), and then handed out as the same two frozen arrays, frames and locations (StackCache).
   */
  user(r: UserCapture): UserStack {
    const copy = r.stack_mode === 'dwarf' ? r.dwarf : undefined; // else the kernel's frames, in ustack
    const first = copy ? copy.regs[0] : r.ustack[0];
    if (r.stack_mode === 'none' || first === undefined) return NO_STACK;
    if (copy && this.tables && !r.ustack.length) this.tables.want(r.tgid); // the kernel could not unwind it
    if (r.stack_mode === 'dwarf') {
      if (copy) this.unwound.copied++; else this.unwound.kernel++;
    }
    this.spaces.advance(r.ts_ns);
    // fp: bpf_get_stack filled every slot, so there may be more; dwarf: the kernel said it stopped at its limit
    let truncated = r.stack_mode === 'fp' ? r.ustack.length >= FP_FRAMES : r.ustack_more;
    const space = this.spaces.spaceFor(r.tgid, r.exe_ino);
    if (space === undefined) {
      const frames = copy ? [hex(first)] : Array.from(r.ustack, hex);
      return { frames, locs: frames, truncated }; // no file known: the runtime addresses are both
    }
    let pcs: BigUint64Array;
    if (copy) {
      let got = this.unwinder.unwind(space.id, r.tgid, r.pid, copy.regs, copy.base, copy.stack);
      if (got === undefined && this.spaces.redefine(space.id)) got = this.unwinder.unwind(space.id, r.tgid, r.pid, copy.regs, copy.base, copy.stack);
      pcs = got ?? BigUint64Array.of(first);
      // the next frame was above the copy, and the copy was whole (a short one ends at the stack's top)
      const stop = got === undefined ? 'end' : this.unwinder.lastStop;
      truncated = stop === 'max_frames' || (stop === 'past_copy' && copy.stack.length >= STACK_COPY_BYTES);
      if (this.check && r.ustack.length) this.compare(r.ustack, r.ustack_more, pcs, stop === 'past_copy');
      else if (this.check) this.check.notInKernel++;
    } else {
      pcs = r.ustack;
    }
    const words = new Uint32Array(pcs.buffer, pcs.byteOffset, pcs.length * 2);
    const salt = space.id * 2 ** 21 + (space.version % 2 ** 21);
    const hit = this.userStacks.find(words, salt);
    if (hit) return { frames: hit.frames, locs: hit.locs, truncated };
    const { frames, locs, complete } = this.symbolize(space.id, Array.from(pcs));
    // a space the unwinder could not define gives bare addresses: not kept, the next may do better
    if (!complete) return { frames, locs, truncated };
    const kept = this.userStacks.add(words, { frames: Object.freeze(frames), locs: Object.freeze(locs) }, salt);
    return { frames: kept.frames, locs: kept.locs, truncated };
  }

  /** Counts whether the kernel's frames are libdwfl's (see UnwindCheck). */
  private compare(kernel: BigUint64Array, kernelCut: boolean, dwfl: BigUint64Array, dwflCut: boolean): void {
    const c = this.check!;
    c.compared++;
    const n = Math.min(kernel.length, dwfl.length);
    let same = true;
    for (let i = 0; i < n && same; i++) same = kernel[i] === dwfl[i];
    if (same && (kernel.length === dwfl.length || (kernelCut && kernel.length < dwfl.length))) c.same++;
    else if (same && dwflCut && kernel.length > dwfl.length) c.deeper++;
    else {
      c.differ++;
      if (c.examples.length < 5) c.examples.push(`kernel ${Array.from(kernel, hex).join(' ')} | libdwfl ${Array.from(dwfl, hex).join(' ')}`);
    }
  }

  /**
   * Frames and locations of pcs in an address space (the first exact, the others return
   * addresses). Frames are cached by (file, address in the file): they are the same in every
   * process mapping the file.
   */
  private symbolize(space: number, pcs: bigint[]): { frames: string[]; locs: string[]; complete: boolean } {
    let where = this.unwinder.resolve(space, pcs);
    if (where === undefined && this.spaces.redefine(space)) where = this.unwinder.resolve(space, pcs);
    if (where === undefined) {
      const frames = pcs.map(hex);
      return { frames, locs: frames, complete: false };
    }
    const out: string[] = new Array(pcs.length);
    const locs: string[] = new Array(pcs.length);
    const misses = new Map<string, Array<{ i: number; addr: bigint; ret: boolean; fileOffset: number | undefined }>>();
    for (let i = 0; i < pcs.length; i++) {
      const w = where[i];
      if (!w?.module || w.fileOffset === undefined) {
        out[i] = locs[i] = hex(pcs[i]);
        continue;
      }
      locs[i] = this.modules.loc(w.module, w.buildId, w.fileOffset);
      const hit = this.cache.get(`${w.module}\0${w.addr}\0${i > 0}`);
      if (hit) { out[i] = hit; continue; }
      const list = misses.get(w.module) ?? [];
      list.push({ i, addr: w.addr, ret: i > 0, fileOffset: w.fileOffset });
      misses.set(w.module, list);
    }
    for (const [module, list] of misses) {
      for (const ret of [false, true]) {
        const part = list.filter(x => x.ret === ret);
        const frames = this.unwinder.symbolizeFile(module, part.map(x => x.addr), ret);
        part.forEach((x, k) => {
          const s = formatFrame(frames[k] ?? { symbol: '', offset: 0, module, file: '', line: 0 }, pcs[x.i], x.fileOffset);
          if (this.cache.size >= CACHE) this.cache.delete(this.cache.keys().next().value as string);
          this.cache.set(`${module}\0${x.addr}\0${ret}`, s);
          out[x.i] = s;
        });
      }
    }
    return { frames: out, locs, complete: true };
  }

  /**
   * Forgets every process and file (at the end of an activation, when every stack is symbolized):
   * libdwfl's tables and the mapped files are freed, not held until the next activation.
   */
  forget(): void {
    this.spaces.clear();
    this.unwinder.forget();
    this.cache.clear();
    this.kernelStacks.clear();
    this.userStacks.clear();
  }

  /** Address spaces and files the unwinder holds now. */
  usage(): ReturnType<Unwinder['usage']> {
    return this.unwinder.usage();
  }

  close(): void {
    this.unwinder.close();
  }
}
