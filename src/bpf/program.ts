// A program of a BpfObject (borrowed: the object owns it). Attaching returns a Link the caller owns.
import { bpf, helper, alloc, free, encodeBytes, type Ptr } from './ffi.js';
import { BpfError, UnsupportedFeatureError, checkInt, checkPtr } from './errors.js';
import { Link } from './link.js';
import { SysError, bpfSyscall } from '../sys/libc.js';

const ENOENT = 2, EPERM = 1, ENOTSUPP = 524, EOPNOTSUPP = 95;

export interface UprobeTarget {
  /** ELF file to probe (e.g. the target's own libc, from /proc/PID/maps). */
  binary: string;
  /** Function symbol; or `offset` alone for a raw file offset. */
  func?: string;
  offset?: number;
  /** Only this process triggers it; -1 for every process. */
  pid: number;
  retprobe?: boolean;
  /** What bpf_get_attach_cookie() returns in the program: tells apart the functions one program serves. */
  cookie?: number | bigint;
}

/** One program on many offsets of one file: a uprobe_multi link (Linux 6.6+). */
export interface UprobeMultiTarget {
  binary: string;
  /** File offsets, one probe each. */
  offsets: number[];
  /** bpf_get_attach_cookie() at each offset (same length as offsets). */
  cookies: Array<number | bigint>;
  /** Only this process triggers them (its threads, and what it execs). */
  pid: number;
  retprobe?: boolean;
}

/** enum bpf_attach_type / bpf_cmd values libbpf 1.1's headers predate. */
export const BPF_TRACE_UPROBE_MULTI = 48;
const BPF_LINK_CREATE = 28, BPF_F_UPROBE_MULTI_RETURN = 1;
/** The bpf_attr bytes a uprobe_multi link_create reaches (through link_create.uprobe_multi.pid). */
const ATTR_BYTES = 64;

export class Program {
  constructor(private readonly ptr: Ptr) {}

  get name(): string { return bpf.program_name(this.ptr) as string; }
  get section(): string { return bpf.program_section_name(this.ptr) as string; }
  get fd(): number { return bpf.program_fd(this.ptr) as number; }
  get type(): number { return bpf.program_type(this.ptr) as number; }
  get autoload(): boolean { return bpf.program_autoload(this.ptr) as boolean; }

  /** Before load: whether this program is loaded at all (variants the kernel cannot run are not). */
  setAutoload(on: boolean): void {
    checkInt(`autoload ${this.name}`, bpf.program_set_autoload(this.ptr, on) as number);
  }

  /** Before load: the attach type the kernel verifies it for (BPF_TRACE_UPROBE_MULTI, say). */
  setExpectedAttachType(type: number): void {
    checkInt(`expected attach type of ${this.name}`, bpf.program_set_expected_attach_type(this.ptr, type) as number);
  }

  /**
   * Attaches to every offset at once through one uprobe_multi link: one link to detach, and one
   * grace period to wait for when it is detached, where a perf-event uprobe per offset waits one each
   * (~0.1 s apiece here). The program must have been loaded for BPF_TRACE_UPROBE_MULTI.
   */
  attachUprobeMulti(t: UprobeMultiTarget): Link {
    const req = this.uprobeMultiRequest(t);
    try {
      return Link.fromFd(bpfSyscall(BPF_LINK_CREATE, req.attr), this.name, req.what);
    } catch (e) {
      if (e instanceof SysError) throw new BpfError(`attach ${this.name} as ${req.what} (pid ${t.pid})`, e.errno);
      throw e;
    } finally {
      free(req.native);
    }
  }

  /**
   * attachUprobeMulti() on a libuv pool thread. Registering the first uprobe makes the kernel wait for
   * an RCU grace period (percpu_down_write of dup_mmap_sem: 8-16 ms here, docs/performance.md), the
   * whole cost of the link; meanwhile the event loop is free to attach everything else.
   */
  attachUprobeMultiAsync(t: UprobeMultiTarget): Promise<Link> {
    const req = this.uprobeMultiRequest(t);
    return new Promise((resolve, reject) => {
      helper().link_create.async(req.nativeAttr, req.attr.length, (err: unknown, r: number) => {
        free(req.native);
        if (err) reject(err as Error);
        else if (r < 0) reject(new BpfError(`attach ${this.name} as ${req.what} (pid ${t.pid})`, -r));
        else resolve(Link.fromFd(r, this.name, req.what));
      });
    });
  }

  /**
   * The bpf_attr of a uprobe_multi BPF_LINK_CREATE, in a native block that also holds what it points
   * to (path, offsets, cookies): `attr` for bpf(2) from this thread, `nativeAttr` (the same bytes in
   * the block) for a pool thread. The caller frees `native`.
   */
  private uprobeMultiRequest(t: UprobeMultiTarget): { what: string; attr: Buffer; native: Ptr; nativeAttr: Ptr } {
    const what = `uprobe_multi ${t.retprobe ? '(return) ' : ''}${t.binary}:${t.offsets.map(o => `0x${o.toString(16)}`).join(',')}`;
    if (t.offsets.length === 0 || t.offsets.length !== t.cookies.length) throw new Error(`${what}: offsets and cookies must match`);
    const path = Buffer.from(`${t.binary}\0`);
    const arrays = Buffer.alloc(16 * t.offsets.length);
    t.offsets.forEach((o, i) => {
      arrays.writeBigUInt64LE(BigInt(o), i * 8);
      arrays.writeBigUInt64LE(BigInt(t.cookies[i]), (t.offsets.length + i) * 8);
    });
    const native = alloc(path.length + arrays.length + ATTR_BYTES);
    const base = BigInt(native);
    const attr = Buffer.alloc(ATTR_BYTES);
    attr.writeUInt32LE(this.fd, 0);
    attr.writeUInt32LE(BPF_TRACE_UPROBE_MULTI, 8);
    attr.writeBigUInt64LE(base, 16);                                       // path
    attr.writeBigUInt64LE(base + BigInt(path.length), 24);                 // offsets
    attr.writeBigUInt64LE(base + BigInt(path.length + 8 * t.offsets.length), 40); // cookies
    attr.writeUInt32LE(t.offsets.length, 48);
    attr.writeUInt32LE(t.retprobe ? BPF_F_UPROBE_MULTI_RETURN : 0, 52);
    attr.writeUInt32LE(t.pid, 56);
    encodeBytes(native, 0, path);
    encodeBytes(native, path.length, arrays);
    encodeBytes(native, path.length + arrays.length, attr);
    return { what, attr, native, nativeAttr: (base + BigInt(path.length + arrays.length)) as Ptr };
  }

  /** Attaches as its section says (tp_btf/, raw_tp/, tracepoint/, ...). */
  attach(): Link {
    return this.link(`attach ${this.name}`, this.section, bpf.attach(this.ptr));
  }

  /** tp_btf/ (and fentry/fexit, where the kernel allows them). */
  attachTrace(): Link {
    return this.link(`attach ${this.name}`, this.section, bpf.attach_trace(this.ptr));
  }

  attachRawTracepoint(name: string): Link {
    return this.link(`attach ${this.name} to raw tracepoint ${name}`, `raw_tp/${name}`,
      bpf.attach_raw_tracepoint(this.ptr, name));
  }

  attachTracepoint(category: string, name: string): Link {
    return this.link(`attach ${this.name} to tracepoint ${category}:${name}`, `tracepoint/${category}/${name}`,
      bpf.attach_tracepoint(this.ptr, category, name));
  }

  attachUprobe(t: UprobeTarget): Link {
    const what = `${t.retprobe ? 'uretprobe' : 'uprobe'} ${t.binary}:${t.func ?? `0x${(t.offset ?? 0).toString(16)}`}`;
    const opts = { sz: 40, ref_ctr_offset: 0, bpf_cookie: BigInt(t.cookie ?? 0), retprobe: !!t.retprobe, func_name: t.func ?? null };
    return this.link(`attach ${this.name} as ${what} (pid ${t.pid})`, what,
      bpf.attach_uprobe_opts(this.ptr, t.pid, t.binary, t.offset ?? 0, opts));
  }

  /** Attaches to an open perf event fd (sampling); the link takes the fd over. */
  attachPerfEvent(pfd: number): Link {
    return this.link(`attach ${this.name} to perf event`, `perf_event fd ${pfd}`, bpf.attach_perf_event(this.ptr, pfd));
  }

  /**
   * An iterator program (iter/task...) over every object of its kind: the link is the iterator's
   * definition; readIter() runs it.
   */
  attachIter(): Link {
    return this.link(`attach ${this.name}`, this.section, bpf.attach_iter(this.ptr, null));
  }

  pin(path: string): void {
    checkInt(`pin ${this.name} at ${path}`, bpf.program_pin(this.ptr, path) as number);
  }

  /** What the kernel counted for this program: zero unless statistics are on (enableRunStats). */
  runStats(): { runTimeNs: number; runs: number } {
    const t = [0n], n = [0n];
    checkInt(`stats of ${this.name}`, helper().prog_stats(this.fd, t, n) as number);
    return { runTimeNs: Number(t[0]), runs: Number(n[0]) };
  }

  unpin(path: string): void {
    checkInt(`unpin ${this.name} from ${path}`, bpf.program_unpin(this.ptr, path) as number);
  }

  private link(op: string, target: string, p: Ptr | null): Link {
    try {
      return new Link(checkPtr(op, p), this.name, target);
    } catch (e) {
      if (e instanceof BpfError && [ENOENT, EPERM, ENOTSUPP, EOPNOTSUPP].includes(e.errno) && !/^u(ret)?probe/.test(target)) {
        // the hook itself is missing (no such tracepoint, fentry refused): name it as a feature
        throw new UnsupportedFeatureError(target, e.errno, e.message);
      }
      throw e;
    }
  }
}
