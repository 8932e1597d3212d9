// A BPF map by its fd: lookup/update/delete/iterate, batched where the kernel allows it. Buffers in
// and out for the hot paths; typed() gives the same map through codecs (numbers, generated structs).
// A map from an object is borrowed (the object closes it); one opened from a pin is owned.
import { closeSync, unlinkSync } from 'node:fs';
import { describeErrno } from '../sys/errors.js';
import { bpf, type Ptr } from './ffi.js';
import { BpfError, checkInt, takeLibbpfLog } from './errors.js';
import type { Codec } from './codec.js';
import { possibleCpus } from './cpus.js';
import { TypedMap } from './typedmap.js';

export const MapType = {
  HASH: 1, ARRAY: 2, PERCPU_HASH: 5, PERCPU_ARRAY: 6, STACK_TRACE: 7, LRU_HASH: 9, LRU_PERCPU_HASH: 10,
  ARRAY_OF_MAPS: 12, RINGBUF: 27, TASK_STORAGE: 29,
} as const;

export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;

/** The batch commands of bpf(2) (BPF_MAP_*_BATCH). */
export type BatchOp = 'lookup' | 'lookup_and_delete' | 'update' | 'delete';

const ENOENT = 2;
const EINVAL = 22;
const ENOTSUPP = 524; // the kernel's internal "not supported": what a map type without a batch op answers

const BATCH_OPTS = { sz: 24, elem_flags: 0, flags: 0 };

/**
 * Which batch ops each map type has, learnt from the first call: a type without one refuses it
 * before touching anything (ENOTSUPP; EINVAL from some), and is not asked again but served entry by
 * entry. Arrays, for instance, have no batch delete (nor any delete).
 */
const batchOps = new Map<number, Map<BatchOp, boolean>>();

export interface MapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

/** struct bpf_map_info as bpf_obj_get_info_by_fd fills it (88 bytes in 6.x; we read the first 40). */
function infoByFd(fd: number): MapInfo {
  const buf = Buffer.alloc(88);
  const len = [buf.length];
  checkInt('bpf_obj_get_info_by_fd', bpf.obj_get_info_by_fd(fd, buf, len) as number);
  const name = buf.toString('latin1', 24, 40);
  return {
    type: buf.readUInt32LE(0),
    keySize: buf.readUInt32LE(8),
    valueSize: buf.readUInt32LE(12),
    maxEntries: buf.readUInt32LE(16),
    name: name.slice(0, name.indexOf('\0') >>> 0),
  };
}

export class BpfMap {
  #fd: number;
  #ptr: Ptr | null;
  #pinPath: string | undefined;

  /** `ptr`: libbpf's bpf_map of the owning object, if any (pinning goes through it, as libbpf wants). */
  constructor(fd: number, readonly info: MapInfo, private readonly owned: boolean, ptr: Ptr | null = null) {
    this.#fd = fd;
    this.#ptr = ptr;
  }

  /** Opens a pinned map; the returned map owns its fd, and unpin() removes that pin. */
  static fromPin(path: string): BpfMap {
    const fd = checkInt(`bpf_obj_get ${path}`, bpf.obj_get(path) as number);
    const m = new BpfMap(fd, infoByFd(fd), true);
    m.#pinPath = path;
    return m;
  }

  get fd(): number {
    if (this.#fd < 0) throw new Error(`map ${this.info.name} is closed`);
    return this.#fd;
  }

  get name(): string { return this.info.name; }

  get perCpu(): boolean {
    return this.info.type === MapType.PERCPU_ARRAY || this.info.type === MapType.PERCPU_HASH ||
      this.info.type === MapType.LRU_PERCPU_HASH;
  }

  /** Bytes one lookup returns: per-CPU maps give one 8-aligned slot per possible CPU. */
  get valueBytes(): number {
    return this.perCpu ? ((this.info.valueSize + 7) & ~7) * possibleCpus() : this.info.valueSize;
  }

  /**
   * This map through a key and a value codec (Codec.u32, Codec.struct(pi_sc_key), ...; a per-CPU
   * map's value codec is Codec.perCpu(...)). Sizes are checked here, once, not on every call.
   */
  typed<K, V, KIn = K, VIn = V>(key: Codec<K, KIn>, value: Codec<V, VIn>): TypedMap<K, V, KIn, VIn> {
    if (key.size !== this.info.keySize) {
      throw new Error(`map ${this.name}: its keys are ${this.info.keySize} bytes, the key codec's ${key.size}`);
    }
    if (value.size !== this.valueBytes) {
      const slots = this.perCpu ? ` (${possibleCpus()} per-CPU slots of ${this.info.valueSize}: Codec.perCpu)` : '';
      throw new Error(`map ${this.name}: its values are ${this.valueBytes} bytes${slots}, the value codec's ${value.size}`);
    }
    return new TypedMap(this, key, value);
  }

  lookup(key: Uint8Array): Buffer | undefined {
    const value = Buffer.alloc(this.valueBytes);
    const r = bpf.map_lookup_elem(this.fd, key, value) as number;
    if (r === -ENOENT) return undefined;
    checkInt(`lookup in ${this.name}`, r);
    return value;
  }

  /** A per-CPU value split into one Buffer per possible CPU. */
  lookupPerCpu(key: Uint8Array): Buffer[] | undefined {
    const all = this.lookup(key);
    return all && this.splitPerCpu(all);
  }

  splitPerCpu(all: Buffer): Buffer[] {
    const stride = (this.info.valueSize + 7) & ~7;
    const out: Buffer[] = [];
    for (let off = 0; off < all.length; off += stride) out.push(all.subarray(off, off + this.info.valueSize));
    return out;
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.ANY): void {
    checkInt(`update of ${this.name}`, bpf.map_update_elem(this.fd, key, value, flags) as number);
  }

  /** Deletes key; false if it was not there. */
  delete(key: Uint8Array): boolean {
    const r = bpf.map_delete_elem(this.fd, key) as number;
    if (r === -ENOENT) return false;
    if (r < 0) throw this.deleteError(-r);
    return true;
  }

  *keys(): Generator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.info.keySize);
      const r = bpf.map_get_next_key(this.fd, prev, next) as number;
      if (r === -ENOENT) return;
      checkInt(`iterating ${this.name}`, r);
      yield next;
      prev = next;
    }
  }

  /**
   * Every entry, with bpf_map_lookup_batch (one syscall per `chunk` entries) where the map type has it,
   * else key by key. A key that vanishes between get_next_key and lookup is skipped.
   */
  entries(chunk = 1024): Array<[Buffer, Buffer]> {
    const out: Array<[Buffer, Buffer]> = [];
    if (this.walk('lookup', chunk, true, (k, v) => out.push([k, v])) !== undefined) return out;
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) out.push([k, v]);
    }
    return out;
  }

  /**
   * The values of an array map's first n entries (keys 0 .. n-1), in key order: a few batched
   * lookups (one per `chunk`) where a whole-map walk would read every entry of a large array.
   */
  head(n: number, chunk = 1024): Buffer[] {
    const out: Buffer[] = [];
    n = Math.min(n, this.info.maxEntries);
    if (n <= 0) return out;
    if (this.walk('lookup', chunk, true, (_k, v) => out.push(v), n) !== undefined) return out;
    const key = Buffer.alloc(4);
    for (let i = 0; i < n; i++) {
      key.writeUInt32LE(i);
      out.push(this.lookup(key) ?? Buffer.alloc(this.valueBytes));
    }
    return out;
  }

  /**
   * Every entry, each deleted as it is read: bpf_map_lookup_and_delete_batch where the map type has
   * it (hash maps: an entry is read and deleted under its bucket's lock, so no update falls in
   * between), else entries() then deleteBatch() (an update in between is lost with its entry).
   */
  take(chunk = 1024): Array<[Buffer, Buffer]> {
    const out: Array<[Buffer, Buffer]> = [];
    if (this.walk('lookup_and_delete', chunk, true, (k, v) => out.push([k, v])) !== undefined) return out;
    const read = this.entries(chunk);
    this.deleteBatch(Buffer.concat(read.map(([k]) => k)));
    return read;
  }

  /** Deletes every entry, as take() does without keeping them; returns how many there were. */
  clear(chunk = 1024): number {
    const n = this.walk('lookup_and_delete', chunk, false, () => {});
    return n ?? this.deleteBatch(Buffer.concat([...this.keys()]));
  }

  /**
   * Writes n entries, keys and values each packed back to back (keySize and valueBytes apart), with
   * bpf_map_update_batch where the map type has it, else one by one. Applied in order: on a failure
   * the entries before it are written, and the error names the entry.
   */
  updateBatch(keys: Uint8Array, values: Uint8Array, flags: number = UpdateFlags.ANY): void {
    const n = this.batchCount(keys);
    const vb = this.valueBytes;
    if (values.length !== n * vb) throw new Error(`update of ${this.name}: ${n} keys need ${n * vb} bytes of values, got ${values.length}`);
    if (n === 0) return;
    // the kernel's batch update takes no NOEXIST/EXIST (elem_flags is BPF_F_LOCK only): those go one by one
    if (flags === UpdateFlags.ANY && this.batchSupport('update') !== false) {
      const count = [n];
      const r = bpf.map_update_batch(this.fd, keys, values, count, BATCH_OPTS) as number;
      if (!this.refused('update', r, count[0], n)) {
        if (r < 0) throw new BpfError(`update of ${this.name} (entry ${count[0] + 1} of ${n})`, -r, takeLibbpfLog());
        return;
      }
    }
    for (let at = 0; at < n; at++) {
      const r = bpf.map_update_elem(this.fd, keys.subarray(at * this.info.keySize, (at + 1) * this.info.keySize),
        values.subarray(at * vb, (at + 1) * vb), flags) as number;
      if (r < 0) throw new BpfError(`update of ${this.name} (entry ${at + 1} of ${n})`, -r, takeLibbpfLog());
    }
  }

  /**
   * Deletes keys packed back to back (keySize apart) with bpf_map_delete_batch where the map type
   * has it, else one by one; returns how many were there. A key that is not (the kernel deleted it
   * meanwhile, say) is skipped, as delete() returns false for it.
   */
  deleteBatch(keys: Uint8Array): number {
    const n = this.batchCount(keys);
    const ks = this.info.keySize;
    let deleted = 0, at = 0;
    if (n > 0 && this.batchSupport('delete') !== false) {
      for (;;) {
        const count = [n - at];
        const r = bpf.map_delete_batch(this.fd, keys.subarray(at * ks), count, BATCH_OPTS) as number;
        if (at === 0 && this.refused('delete', r, count[0], n)) break;
        if (r === 0) return deleted + count[0];
        // the kernel stops at the first failure; count says how many it deleted before it
        if (r !== -ENOENT) throw this.deleteError(-r, at + count[0], n);
        deleted += count[0];
        at += count[0] + 1;
        if (at >= n) return deleted;
      }
    }
    for (; at < n; at++) {
      const r = bpf.map_delete_elem(this.fd, keys.subarray(at * ks, (at + 1) * ks)) as number;
      if (r === -ENOENT) continue;
      if (r < 0) throw this.deleteError(-r, at, n);
      deleted++;
    }
    return deleted;
  }

  /** Whether maps of this type have a batch op: undefined until the first call has asked the kernel. */
  batchSupport(op: BatchOp): boolean | undefined {
    return batchOps.get(this.info.type)?.get(op);
  }

  /**
   * Whether the kernel refused a batch op for this map type (and remembers the answer either way).
   * A refusal comes before anything is done: ENOTSUPP, or EINVAL with count untouched; an EINVAL
   * that counts fewer is about one entry, and is that entry's error.
   */
  private refused(op: BatchOp, r: number, count: number, asked: number): boolean {
    const no = r === -ENOTSUPP || (r === -EINVAL && count === asked);
    let ops = batchOps.get(this.info.type);
    if (!ops) batchOps.set(this.info.type, ops = new Map());
    if (!ops.has(op)) ops.set(op, !no);
    return no;
  }

  /**
   * Walks the map with a lookup (or lookup-and-delete) batch of `chunk` entries per syscall, handing
   * each entry to `each`; how many there were, or undefined if the map type has no such op. `fresh`:
   * new buffers for every batch, for a caller that keeps the entries (else they are reused).
   */
  private walk(op: 'lookup' | 'lookup_and_delete', chunk: number, fresh: boolean,
    each: (k: Buffer, v: Buffer) => void, limit = Infinity): number | undefined {
    if (this.batchSupport(op) === false) return undefined;
    const fn = op === 'lookup' ? bpf.map_lookup_batch : bpf.map_lookup_and_delete_batch;
    const { keySize } = this.info;
    const vb = this.valueBytes;
    // the batch token is opaque: a key for most maps, a u32 bucket index for hash maps; key-sized fits both
    const tokenSize = Math.max(keySize, 4);
    let inBatch: Buffer | null = null, outBatch: Buffer = Buffer.alloc(tokenSize);
    let keys = Buffer.alloc(keySize * chunk), values = Buffer.alloc(vb * chunk);
    let total = 0;
    for (;;) {
      const asked = Math.min(chunk, limit - total);
      const count = [asked];
      const r = fn(this.fd, inBatch, outBatch, keys, values, count, BATCH_OPTS) as number;
      if (inBatch === null && this.refused(op, r, count[0], asked)) return undefined;
      if (r < 0 && r !== -ENOENT) checkInt(`batch ${op.replace(/_/g, ' ')} in ${this.name}`, r);
      for (let i = 0; i < count[0]; i++) {
        each(keys.subarray(i * keySize, (i + 1) * keySize), values.subarray(i * vb, (i + 1) * vb));
      }
      total += count[0];
      if (r === -ENOENT || total >= limit) return total; // the last batch
      const next = inBatch ?? Buffer.alloc(tokenSize); // the token just written goes back in; the other takes the next
      inBatch = outBatch;
      outBatch = next;
      if (fresh) {
        keys = Buffer.alloc(keySize * chunk);
        values = Buffer.alloc(vb * chunk);
      }
    }
  }

  private batchCount(keys: Uint8Array): number {
    if (keys.length % this.info.keySize) throw new Error(`${this.name}: ${keys.length} bytes of keys are no whole number of ${this.info.keySize}-byte keys`);
    return keys.length / this.info.keySize;
  }

  private deleteError(errno: number, at = 0, n = 1): BpfError {
    const which = n > 1 ? ` (entry ${at + 1} of ${n})` : '';
    const array = this.info.type === MapType.ARRAY || this.info.type === MapType.PERCPU_ARRAY;
    return new BpfError(`delete from ${this.name}${which}`, errno, takeLibbpfLog(), errno === EINVAL && array
      ? `${describeErrno(errno)}: an array map's entries cannot be deleted, only overwritten` : undefined);
  }

  get pinPath(): string | undefined { return this.#pinPath; }

  /**
   * Pins this map at path (bpffs); the pin outlives every handle. An object's map pins through
   * libbpf (bpf_map__pin, which remembers the path: after unpin() it pins again there, nowhere else).
   */
  pin(path: string): void {
    const op = `pin ${this.name} at ${path}`, fd = this.fd; // throws once closed
    if (this.#ptr !== null) checkInt(op, bpf.map_pin(this.#ptr, path) as number);
    else checkInt(op, bpf.obj_pin(fd, path) as number);
    this.#pinPath = path;
  }

  /** Removes a pin: by default where this handle pinned the map, or the pin it was opened from. */
  unpin(path = this.#pinPath): void {
    if (path === undefined) return;
    const op = `unpin ${this.name} from ${path}`;
    if (this.#ptr !== null) {
      checkInt(op, bpf.map_unpin(this.#ptr, path) as number);
    } else {
      try {
        unlinkSync(path);
      } catch (e) {
        throw new BpfError(op, -((e as NodeJS.ErrnoException).errno ?? -EINVAL));
      }
    }
    if (path === this.#pinPath) this.#pinPath = undefined;
  }

  /** Frees the handle (its fd, if it owns it); a pin stays. */
  close(): void {
    if (this.owned && this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    this.#ptr = null;
  }

  [Symbol.dispose](): void { this.close(); }
}
