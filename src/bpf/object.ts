// A BPF object file: open, configure (read-only globals, autoload, map sizes, shared maps), load
// (verify), then hand out its programs and maps. It owns them all; close() frees everything that
// is not pinned.
import { bpf, alloc, free, encodeBytes, helper, isNull, view, type Ptr } from './ffi.js';
import { withSignalsBlocked } from '../sys/libc.js';
import { BpfError, VerifierError, captureLibbpfLog, checkInt, checkPtr, takeLibbpfLog } from './errors.js';
import { datasecVars } from './btf.js';
import { BpfMap } from './map.js';
import { Program } from './program.js';

const KERNEL_LOG_SIZE = 4 << 20; // the verifier keeps the tail of its log in it (6.4+ rotates)
const LIBBPF_LOG_SIZE = 1 << 20; // libbpf's own messages of one loadAsync()

export class BpfObject {
  #ptr: Ptr | null;
  #loaded = false;
  /** A loadAsync() is running on another thread: nothing may touch the object meanwhile. */
  #loading = false;
  #logBuf: Ptr | null;
  readonly #maps = new Map<string, BpfMap>();

  private constructor(ptr: Ptr, logBuf: Ptr, readonly path: string) {
    this.#ptr = ptr;
    this.#logBuf = logBuf;
  }

  /** Opens (parses) an object file; nothing reaches the kernel until load(). */
  static open(path: string): BpfObject {
    captureLibbpfLog();
    const logBuf = alloc(KERNEL_LOG_SIZE);
    const opts = {
      sz: 80, object_name: null, relaxed_maps: false, pin_root_path: null, _stub: 0, kconfig: null,
      btf_custom_path: null, kernel_log_buf: logBuf, kernel_log_size: KERNEL_LOG_SIZE, kernel_log_level: 0,
    };
    let ptr: Ptr;
    try {
      ptr = checkPtr(`open ${path}`, bpf.object_open_file(path, opts) as Ptr | null);
    } catch (e) {
      free(logBuf);
      throw e;
    }
    return new BpfObject(ptr, logBuf, path);
  }

  private get ptr(): Ptr {
    if (this.#ptr === null) throw new Error(`${this.path} is closed`);
    return this.#ptr;
  }

  get name(): string { return bpf.object_name(this.ptr) as string; }
  get loaded(): boolean { return this.#loaded; }

  programs(): Program[] {
    const out: Program[] = [];
    for (let p = bpf.object_next_program(this.ptr, null) as Ptr | null; !isNull(p);
      p = bpf.object_next_program(this.ptr, p) as Ptr | null) out.push(new Program(p as Ptr));
    return out;
  }

  program(name: string): Program {
    const p = this.programs().find(x => x.name === name);
    if (!p) throw new Error(`${this.path} has no program ${name}`);
    return p;
  }

  /** Raw map handles, by name: valid before and after load. */
  private mapPtrs(): Map<string, Ptr> {
    const out = new Map<string, Ptr>();
    for (let m = bpf.object_next_map(this.ptr, null) as Ptr | null; !isNull(m);
      m = bpf.object_next_map(this.ptr, m) as Ptr | null) out.set(bpf.map_name(m) as string, m as Ptr);
    return out;
  }

  private mapPtr(name: string): Ptr {
    const m = this.mapPtrs().get(name);
    if (m === undefined) throw new Error(`${this.path} has no map ${name}`);
    return m;
  }

  mapNames(): string[] { return [...this.mapPtrs().keys()]; }

  /** A loaded map, borrowed from this object. */
  map(name: string): BpfMap {
    if (!this.#loaded) throw new Error(`map ${name}: ${this.path} is not loaded yet`);
    let m = this.#maps.get(name);
    if (!m) {
      const p = this.mapPtr(name);
      m = new BpfMap(bpf.map_fd(p) as number, {
        name, type: bpf.map_type(p) as number, keySize: bpf.map_key_size(p) as number,
        valueSize: bpf.map_value_size(p) as number, maxEntries: bpf.map_max_entries(p) as number,
      }, false, p);
      this.#maps.set(name, m);
    }
    return m;
  }

  /** Before load: sets a `const volatile` global (read-only config) by name. */
  setConst(name: string, value: number | bigint | Uint8Array): void {
    this.beforeLoad(`set ${name}`);
    const rodata = [...this.mapPtrs()].find(([n]) => n.endsWith('.rodata'))?.[1];
    const btf = bpf.object_btf(this.ptr) as Ptr | null;
    const v = rodata !== undefined && !isNull(btf) ? datasecVars(btf as Ptr, '.rodata').get(name) : undefined;
    if (rodata === undefined || !v) throw new Error(`${this.path} has no read-only global ${name}`);
    const size = [0];
    const base = checkPtr(`initial value of .rodata`, bpf.map_initial_value(rodata, size) as Ptr | null);
    let bytes: Uint8Array;
    if (value instanceof Uint8Array) {
      bytes = value;
    } else {
      const b = Buffer.alloc(v.size);
      if (v.size === 8) b.writeBigUInt64LE(BigInt(value));
      else if (v.size === 4) b.writeUInt32LE(Number(value));
      else if (v.size === 2) b.writeUInt16LE(Number(value));
      else b.writeUInt8(Number(value));
      bytes = b;
    }
    if (bytes.length !== v.size) throw new Error(`${name} is ${v.size} bytes, got ${bytes.length}`);
    encodeBytes(base, v.offset, bytes);
  }

  /** Before load: resizes a map (a ring buffer's bytes, a bitmap's words...). */
  setMaxEntries(map: string, n: number): void {
    this.beforeLoad(`resize ${map}`);
    checkInt(`resize ${map}`, bpf.map_set_max_entries(this.mapPtr(map), n) as number);
  }

  /** Before load: whether load() creates this map (a map no loaded program uses need not exist). */
  setAutocreate(map: string, create: boolean): void {
    this.beforeLoad(`autocreate ${map}`);
    checkInt(`autocreate ${map}`, bpf.map_set_autocreate(this.mapPtr(map), create) as number);
  }

  /** Before load: makes this object use an existing map (another object's) instead of creating one. */
  reuseMap(name: string, map: BpfMap): void {
    this.beforeLoad(`reuse ${name}`);
    checkInt(`reuse map ${name}`, bpf.map_reuse_fd(this.mapPtr(name), map.fd) as number);
  }

  /**
   * Creates the maps and loads every autoload program through the verifier. A refusal is a
   * VerifierError carrying the program's name and log.
   */
  load(): void {
    this.beforeLoad('load');
    takeLibbpfLog(); // start from a clean capture
    // a pending signal makes the verifier give up (EAGAIN): none may interrupt it
    const r = withSignalsBlocked(() => bpf.object_load(this.ptr) as number);
    this.afterLoad(r, takeLibbpfLog());
  }

  /**
   * load() on a thread of libuv's pool, so that the event loop runs meanwhile and several objects
   * verify at once (on as many CPUs): the verifier takes tens to hundreds of ms per object. Nothing
   * may use the object until it settles; objects loading side by side must not share a map that one
   * of them creates (reuse maps that exist already).
   */
  async loadAsync(): Promise<void> {
    this.beforeLoad('load');
    this.#loading = true;
    const log = Buffer.allocUnsafe(LIBBPF_LOG_SIZE); // untouched pages cost no memory; C NUL-terminates
    let r: number;
    try {
      r = await new Promise<number>((resolve, reject) => {
        helper().object_load.async(this.ptr, log, log.length, (err: unknown, n: number) => (err ? reject(err) : resolve(n)));
      });
    } finally {
      this.#loading = false;
    }
    const nul = log.indexOf(0);
    this.afterLoad(r, log.toString('utf8', 0, nul < 0 ? log.length : nul));
  }

  /** After bpf_object__load() returned r, with libbpf's messages of that load. */
  private afterLoad(r: number, libbpfLog: string): void {
    const kernelLog = this.kernelLog();
    this.freeLogBuf();
    if (r < 0) {
      const failed = /prog '([^']+)': BPF program load failed/.exec(libbpfLog)?.[1];
      // a refusal without verifier output (EPERM for fentry here, say) is not the verifier's
      if (failed && kernelLog.trim()) throw new VerifierError(failed, -r, kernelLog);
      if (failed) throw new BpfError(`load program ${failed}`, -r, libbpfLog);
      // libbpf logs a failure as a cascade: the cause first ("...: -3"), then each caller's "failed
      // to ...", down to "failed to load object": the cause is what a user needs
      const lines = libbpfLog.split('\n').filter(l => l.startsWith('libbpf: ')).map(l => l.slice(8));
      const why = lines.find(l => /: -\d+$/.test(l)) ?? lines.at(-1);
      throw new BpfError(`load ${this.path}`, -r, libbpfLog, why);
    }
    this.#loaded = true;
  }

  private beforeLoad(what: string): void {
    if (this.#loaded) throw new Error(`${what}: ${this.path} is already loaded`);
    if (this.#loading) throw new Error(`${what}: ${this.path} is loading`);
  }

  /** What the verifier wrote into our log buffer (only after a failed load: libbpf retries at level 1). */
  private kernelLog(): string {
    if (this.#logBuf === null) return '';
    const b = Buffer.from(view(this.#logBuf, KERNEL_LOG_SIZE));
    const nul = b.indexOf(0);
    return b.toString('utf8', 0, nul < 0 ? b.length : nul);
  }

  private freeLogBuf(): void {
    if (this.#logBuf !== null) free(this.#logBuf);
    this.#logBuf = null;
  }

  /** Unloads what is not pinned, frees the handle. Links must be closed by their owners first. */
  close(): void {
    if (this.#ptr === null) return;
    if (this.#loading) throw new Error(`close ${this.path}: still loading (await loadAsync() first)`);
    for (const m of this.#maps.values()) m.close(); // borrowed: marks them closed, libbpf closes the fds
    this.#maps.clear();
    bpf.object_close(this.#ptr);
    this.#ptr = null;
    this.freeLogBuf();
  }

  [Symbol.dispose](): void { this.close(); }
}
