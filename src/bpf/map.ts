// A BPF map by its fd: typed lookup/update/delete/iterate, batched where the kernel allows it.
// A map from an object is borrowed (the object closes it); one opened from a pin is owned.
import { closeSync } from 'node:fs';
import { bpf } from './ffi.js';
import { BpfError, checkInt } from './errors.js';
import { possibleCpus } from './cpus.js';

export const MapType = {
  HASH: 1, ARRAY: 2, PERCPU_HASH: 5, PERCPU_ARRAY: 6, STACK_TRACE: 7, LRU_HASH: 9, LRU_PERCPU_HASH: 10,
  RINGBUF: 27, TASK_STORAGE: 29,
} as const;

export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;

const ENOENT = 2;
const EINVAL = 22;
const ENOTSUPP = 524; // the kernel's internal "not supported" some batch ops leak

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
  private readonly batchable: boolean;

  constructor(fd: number, readonly info: MapInfo, private readonly owned: boolean) {
    this.#fd = fd;
    this.batchable = ([MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
      MapType.LRU_HASH, MapType.LRU_PERCPU_HASH] as number[]).includes(info.type);
  }

  /** Opens a pinned map; the returned map owns its fd. */
  static fromPin(path: string): BpfMap {
    const fd = checkInt(`bpf_obj_get ${path}`, bpf.obj_get(path) as number);
    return new BpfMap(fd, infoByFd(fd), true);
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
    checkInt(`delete from ${this.name}`, r);
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
    if (this.batchable) {
      try {
        return this.entriesBatched(chunk);
      } catch (e) {
        if (!(e instanceof BpfError) || (e.errno !== EINVAL && e.errno !== ENOTSUPP)) throw e;
      }
    }
    const out: Array<[Buffer, Buffer]> = [];
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) out.push([k, v]);
    }
    return out;
  }

  private entriesBatched(chunk: number): Array<[Buffer, Buffer]> {
    const { keySize } = this.info;
    const vb = this.valueBytes;
    // the batch token is opaque: a key for hash maps, a u32 index for arrays; key-sized fits both
    const tokenSize = Math.max(keySize, 4);
    const out: Array<[Buffer, Buffer]> = [];
    let inBatch: Buffer | null = null;
    for (;;) {
      const outBatch = Buffer.alloc(tokenSize);
      const keys = Buffer.alloc(keySize * chunk);
      const values = Buffer.alloc(vb * chunk);
      const count = [chunk];
      const r = bpf.map_lookup_batch(this.fd, inBatch, outBatch, keys, values, count,
        { sz: 24, elem_flags: 0, flags: 0 }) as number;
      if (r < 0 && r !== -ENOENT) checkInt(`batch lookup in ${this.name}`, r);
      for (let i = 0; i < count[0]; i++) {
        out.push([keys.subarray(i * keySize, (i + 1) * keySize), values.subarray(i * vb, (i + 1) * vb)]);
      }
      if (r === -ENOENT) return out;
      inBatch = outBatch;
    }
  }

  /** Pins this map's fd at path (bpffs). */
  pin(path: string): void {
    checkInt(`pin ${this.name} at ${path}`, bpf.obj_pin(this.fd, path) as number);
  }

  close(): void {
    if (this.owned && this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void { this.close(); }
}
