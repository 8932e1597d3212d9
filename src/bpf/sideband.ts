// perf side-band records of what processes map (native/sideband.c): the address spaces stacks are
// symbolized against, recorded as they change, so they outlive the processes.
import { BpfError, checkPtr } from './errors.js';
import { errno, helper, type Ptr } from './ffi.js';

export type SidebandRecord =
  | { kind: 'map'; pid: number; tid: number; time: bigint; addr: number; size: number; pgoff: number; ino: number;
      dev: number; prot: number; path: string }
  | { kind: 'exec'; pid: number; tid: number; time: bigint; comm: string }
  | { kind: 'fork'; pid: number; ppid: number; time: bigint }
  | { kind: 'lost'; count: number };

const OUT = 1 << 20;

export class Sideband {
  #sb: Ptr | null;
  private readonly buf = Buffer.alloc(OUT);

  private constructor(sb: Ptr) { this.#sb = sb; }

  /**
   * Follows the given threads and everything they start (or, with none, every task), with a ring of
   * `pages` pages per CPU.
   */
  static open(tids: number[], cpus: number, pages = 64): Sideband {
    const t = Uint32Array.from(tids);
    const sb = helper().sideband_new(t, t.length, cpus, pages) as Ptr | null;
    if (sb === null || sb === 0n) throw new BpfError('perf_event_open (mmap side-band)', errno());
    return new Sideband(checkPtr('pi_sideband_new', sb));
  }

  private get sb(): Ptr {
    if (this.#sb === null) throw new Error('side-band is closed');
    return this.#sb;
  }

  /** Everything pending, in the order the kernel wrote each CPU's records (merge by time). */
  read(): SidebandRecord[] {
    const out: SidebandRecord[] = [];
    for (;;) {
      const n = helper().sideband_read(this.sb, this.buf, OUT) as number;
      const b = this.buf;
      for (let off = 0; off < n; ) {
        const len = b.readUInt32LE(off), kind = b.readUInt32LE(off + 4);
        const pid = b.readUInt32LE(off + 8), tid = b.readUInt32LE(off + 12), time = b.readBigUInt64LE(off + 16);
        const nameAt = off + 64, nameEnd = b.indexOf(0, nameAt);
        const name = b.toString('utf8', nameAt, nameEnd < 0 || nameEnd > off + len ? off + len : nameEnd);
        const u64 = (o: number) => Number(b.readBigUInt64LE(off + o));
        if (kind === 1) {
          out.push({ kind: 'map', pid, tid, time, addr: u64(24), size: u64(32), pgoff: u64(40), ino: u64(48),
            prot: b.readUInt32LE(off + 56), dev: b.readUInt32LE(off + 60), path: name });
        } else if (kind === 2) {
          out.push({ kind: 'exec', pid, tid, time, comm: name });
        } else if (kind === 3) {
          out.push({ kind: 'lost', count: u64(32) });
        } else if (kind === 4) {
          out.push({ kind: 'fork', pid, ppid: u64(24), time });
        }
        off += (len + 7) & ~7;
      }
      if (n < OUT / 2) return out;
    }
  }

  get lost(): number { return Number(helper().sideband_lost(this.sb)); }

  close(): void {
    if (this.#sb !== null) helper().sideband_free(this.#sb);
    this.#sb = null;
  }
}
