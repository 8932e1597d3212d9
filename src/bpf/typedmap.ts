// A BpfMap seen through a key codec and a value codec: lookup/update/delete/iterate, batched where
// the map is, with numbers and objects in place of Buffers. A view, not a handle: it owns nothing,
// and the BpfMap's owner closes the map.
import type { Codec } from './codec.js';
import type { BpfMap } from './map.js';

export class TypedMap<K, V, KIn = K, VIn = V> {
  constructor(readonly map: BpfMap, readonly key: Codec<K, KIn>, readonly value: Codec<V, VIn>) {}

  private encodeKey(k: KIn): Buffer {
    const b = Buffer.alloc(this.key.size);
    this.key.encode(k, b, 0);
    return b;
  }

  lookup(k: KIn): V | undefined {
    const v = this.map.lookup(this.encodeKey(k));
    return v && this.value.decode(v, 0);
  }

  update(k: KIn, v: VIn, flags?: number): void {
    const b = Buffer.alloc(this.value.size);
    this.value.encode(v, b, 0);
    this.map.update(this.encodeKey(k), b, flags);
  }

  /** false if k was not there. */
  delete(k: KIn): boolean {
    return this.map.delete(this.encodeKey(k));
  }

  *keys(): Generator<K> {
    for (const k of this.map.keys()) yield this.key.decode(k, 0);
  }

  /** Every entry, batched as BpfMap.entries() is. */
  entries(chunk?: number): Array<[K, V]> {
    return this.map.entries(chunk).map(([k, v]) => [this.key.decode(k, 0), this.value.decode(v, 0)]);
  }

  /** Every entry, each removed as it is read (BpfMap.take). */
  take(chunk?: number): Array<[K, V]> {
    return this.map.take(chunk).map(([k, v]) => [this.key.decode(k, 0), this.value.decode(v, 0)]);
  }

  /** Writes every entry, in order, in as few syscalls as the map allows (BpfMap.updateBatch). */
  updateBatch(entries: ReadonlyArray<readonly [KIn, VIn]>, flags?: number): void {
    if (entries.length === 0) return;
    const ks = Buffer.alloc(this.key.size * entries.length), vs = Buffer.alloc(this.value.size * entries.length);
    entries.forEach(([k, v], i) => {
      this.key.encode(k, ks, i * this.key.size);
      this.value.encode(v, vs, i * this.value.size);
    });
    this.map.updateBatch(ks, vs, flags);
  }

  /** Deletes every key that is there; returns how many were (BpfMap.deleteBatch). */
  deleteBatch(keys: readonly KIn[]): number {
    if (keys.length === 0) return 0;
    const ks = Buffer.alloc(this.key.size * keys.length);
    keys.forEach((k, i) => this.key.encode(k, ks, i * this.key.size));
    return this.map.deleteBatch(ks);
  }

  /** Deletes every entry; returns how many there were. */
  clear(): number {
    return this.map.clear();
  }
}
