// Codecs: how a map's keys and values turn into bytes and back, so that callers hand a typed map
// numbers and objects instead of writing offsets into Buffers. A struct codec is built from a layout
// tools/gen-layout.ts generated from BTF, so its offsets are the C compiler's, never written by hand.
import { possibleCpus } from './cpus.js';

/** Fixed-size encoding of T; `In` is what encode accepts (a struct codec takes missing fields as zero). */
export interface Codec<T, In = T> {
  readonly size: number;
  encode(value: In, out: Buffer, off: number): void;
  /** May return a view into `buf` (bytes(), a struct's array fields): copy it to keep it past `buf`. */
  decode(buf: Buffer, off: number): T;
}

/** The shape of a struct in src/gen/layout.ts. */
export interface StructLayout {
  readonly SIZE: number;
  readonly OFF: Readonly<Record<string, number>>;
  readonly LEN: Readonly<Record<string, number>>;
  readonly TYPE: Readonly<Record<string, string>>;
}

/** A field's value by its C type: 64-bit integers exactly (bigint), char arrays as text, other aggregates as bytes. */
type FieldValue<T> = T extends 'u64' | 's64' | 'pointer' ? bigint
  : T extends `char[${string}]` ? string
  : T extends `${string}[${string}]` | `struct ${string}` | `union ${string}` ? Buffer
  : number;
type FieldInput<T> = T extends 'u64' | 's64' | 'pointer' ? bigint | number
  : T extends `${string}[${string}]` | `struct ${string}` | `union ${string}` ? FieldValue<T> | Uint8Array
  : FieldValue<T>;

export type StructOf<L extends StructLayout> = { -readonly [F in keyof L['TYPE']]: FieldValue<L['TYPE'][F]> };
/** Like a C designated initializer: a field left out is zero. */
export type StructInput<L extends StructLayout> = { -readonly [F in keyof L['TYPE']]?: FieldInput<L['TYPE'][F]> };

const u32: Codec<number> = {
  size: 4,
  encode: (v, out, off) => { out.writeUInt32LE(v >>> 0, off); },
  decode: (b, off) => b.readUInt32LE(off),
};

const u64: Codec<bigint, bigint | number> = {
  size: 8,
  encode: (v, out, off) => { out.writeBigUInt64LE(BigInt(v), off); },
  decode: (b, off) => b.readBigUInt64LE(off),
};

/** Raw bytes (a value the hot paths decode with typed-array reads themselves); decode is a view. */
function bytes(size: number): Codec<Buffer, Uint8Array> {
  return {
    size,
    encode: (v, out, off) => {
      if (v.length !== size) throw new Error(`expected ${size} bytes, got ${v.length}`);
      out.set(v, off);
    },
    decode: (b, off) => b.subarray(off, off + size),
  };
}

/**
 * A per-CPU value: one slot per possible CPU, each 8-aligned, as the kernel hands them over
 * (bpf_map_lookup_elem on a per-CPU map). Encoding needs a value for every CPU.
 */
function perCpu<T, In>(c: Codec<T, In>, cpus = possibleCpus()): Codec<T[], In[]> {
  const stride = (c.size + 7) & ~7;
  return {
    size: stride * cpus,
    encode: (v, out, off) => {
      if (v.length !== cpus) throw new Error(`a per-CPU value needs ${cpus} slots, got ${v.length}`);
      out.fill(0, off, off + stride * cpus);
      v.forEach((x, i) => c.encode(x, out, off + i * stride));
    },
    decode: (b, off) => Array.from({ length: cpus }, (_, i) => c.decode(b, off + i * stride)),
  };
}

interface FieldCodec { name: string; off: number; len: number; read(b: Buffer, at: number): unknown; write(b: Buffer, at: number, v: unknown): void }

function fieldCodec(name: string, off: number, len: number, type: string): FieldCodec {
  const signed = /^s\d+$/.test(type);
  if (type === 'u64' || type === 's64' || type === 'pointer') {
    return type === 's64'
      ? { name, off, len, read: (b, at) => b.readBigInt64LE(at), write: (b, at, v) => { b.writeBigInt64LE(BigInt(v as bigint), at); } }
      : { name, off, len, read: (b, at) => b.readBigUInt64LE(at), write: (b, at, v) => { b.writeBigUInt64LE(BigInt(v as bigint), at); } };
  }
  if (/^char\[\d+\]$/.test(type)) {
    return {
      name, off, len,
      read: (b, at) => { const end = b.indexOf(0, at); return b.toString('utf8', at, end < 0 || end > at + len ? at + len : end); },
      // NUL-terminated within the array, as the kernel writes a comm
      write: (b, at, v) => { b.fill(0, at, at + len); b.write(v as string, at, len - 1, 'utf8'); },
    };
  }
  if (!type.includes('[') && !type.startsWith('struct ') && !type.startsWith('union ') && [1, 2, 4].includes(len)) {
    return signed
      ? { name, off, len, read: (b, at) => b.readIntLE(at, len), write: (b, at, v) => { b.writeIntLE(v as number, at, len); } }
      : { name, off, len, read: (b, at) => b.readUIntLE(at, len), write: (b, at, v) => { b.writeUIntLE((v as number) >>> 0, at, len); } };
  }
  return {
    name, off, len,
    read: (b, at) => b.subarray(at, at + len),
    write: (b, at, v) => {
      const src = v as Uint8Array;
      if (src.length > len) throw new Error(`field ${name} is ${len} bytes, got ${src.length}`);
      b.set(src, at);
    },
  };
}

/** A struct of src/gen/layout.ts, field by field at its generated offsets; padding between fields reads as nothing and writes as zero. */
function struct<L extends StructLayout>(layout: L): Codec<StructOf<L>, StructInput<L>> {
  const fields = Object.keys(layout.OFF).map(n => fieldCodec(n, layout.OFF[n], layout.LEN[n], layout.TYPE[n]));
  return {
    size: layout.SIZE,
    encode: (v, out, off) => {
      out.fill(0, off, off + layout.SIZE);
      const given = v as Record<string, unknown>;
      for (const f of fields) if (given[f.name] !== undefined) f.write(out, off + f.off, given[f.name]);
    },
    decode: (b, off) => {
      const o: Record<string, unknown> = {};
      for (const f of fields) o[f.name] = f.read(b, off + f.off);
      return o as StructOf<L>;
    },
  };
}

export const Codec = { u32, u64, bytes, perCpu, struct };
