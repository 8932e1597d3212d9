// The recording file format (docs/recording.md): a gzip file of one or more members (RFC 1952), each
// member a chunk of whole NDJSON lines that inflates on its own. `zcat FILE` gives the lines: the
// header, every record exactly as --json prints it, and the summary. What procimage needs to walk the
// chunks without inflating them — each chunk's size, what it holds, where the live output flushed —
// is in a gzip extra subfield ('P','R') of each member's header, which gunzip and zcat skip.
//
// The header of every member carries gzip's own header CRC (FHCRC): damage to the subfield is
// found even where a reader skips a chunk without inflating it.
//
// Why gzip members rather than one stream: a member that was written whole is readable whatever
// happens after it (SIGKILL, a crash, a full disk), and its size in its own header tells a reader
// exactly where a truncated file stops being readable.
import { crc32 } from 'node:zlib';

/** The version of the file format this build writes and the newest it reads. */
export const FORMAT_VERSION = 1;

/** The extra subfield's id: 'P', 'R' (procimage recording). */
const SI1 = 0x50, SI2 = 0x52;
/** The extra subfield payload's own layout version. */
const PAYLOAD_VERSION = 1;

const GZIP_ID1 = 0x1f, GZIP_ID2 = 0x8b, CM_DEFLATE = 8;
const FLG_FHCRC = 0x02, FLG_FEXTRA = 0x04, FLG_FNAME = 0x08, FLG_FCOMMENT = 0x10;
/** The fixed part of a gzip member header, before the optional fields. */
const GZIP_FIXED = 10;

export const ChunkKind = {
  /** The first chunk: the header line alone. */
  Header: 0,
  /** Record lines. */
  Records: 1,
  /** The last chunk: the last record lines, then the summary line. */
  End: 2,
} as const;
export type ChunkKind = (typeof ChunkKind)[keyof typeof ChunkKind];

/** What a chunk's extra subfield says about it. */
export interface ChunkInfo {
  kind: ChunkKind;
  /** 0 for the header, then 1, 2, ...: a gap means a chunk is missing. */
  seq: number;
  /** The whole gzip member, header to trailer: where the next chunk starts. */
  memberBytes: number;
  /** Lines in the chunk. */
  lines: number;
  /** The least and greatest `ts_ns` of its records (absolute CLOCK_MONOTONIC ns); 0n when none. */
  tsMin: bigint;
  tsMax: bigint;
  /**
   * After which lines the live output flushed (a count of lines into the chunk, ascending): the
   * records one batch of the ring, or one poll of the aggregates, handed out together. Text output
   * prints the tables of a batch after its events, so a report reproduces it from these.
   */
  flushes: number[];
}

/** Flush marks one chunk may carry: the gzip extra field is at most 65535 bytes. */
export const MAX_FLUSHES = 8192;

/** kind u8, version u8, reserved u16, seq u32, member bytes u32, lines u32, ts min u64, ts max u64, flushes u32 + u32 each. */
const FIXED_PAYLOAD = 36;

function encodePayload(info: ChunkInfo): Buffer {
  const b = Buffer.alloc(FIXED_PAYLOAD + 4 * info.flushes.length);
  b.writeUInt8(PAYLOAD_VERSION, 0);
  b.writeUInt8(info.kind, 1);
  b.writeUInt32LE(info.seq, 4);
  b.writeUInt32LE(info.memberBytes, 8);
  b.writeUInt32LE(info.lines, 12);
  b.writeBigUInt64LE(info.tsMin, 16);
  b.writeBigUInt64LE(info.tsMax, 24);
  b.writeUInt32LE(info.flushes.length, 32);
  info.flushes.forEach((f, i) => b.writeUInt32LE(f, FIXED_PAYLOAD + 4 * i));
  return b;
}

/**
 * A chunk's gzip member: the member zlib made of its lines (a 10-byte header without optional
 * fields), with the extra field and the header's CRC spliced in after the fixed header. The CRC and
 * length in the trailer cover the uncompressed data only, so they stay valid.
 */
export function chunkMember(gz: Buffer, info: Omit<ChunkInfo, 'memberBytes'>): Buffer {
  if (gz.length < GZIP_FIXED + 8 || gz[0] !== GZIP_ID1 || gz[1] !== GZIP_ID2 || gz[3] !== 0) {
    throw new Error('zlib made a gzip member with optional header fields');
  }
  const payloadLen = FIXED_PAYLOAD + 4 * info.flushes.length;
  const extraLen = 4 + payloadLen;
  const headLen = GZIP_FIXED + 2 + extraLen + 2;
  const memberBytes = headLen + gz.length - GZIP_FIXED;
  const head = Buffer.alloc(headLen);
  gz.copy(head, 0, 0, GZIP_FIXED);
  head[3] = FLG_FEXTRA | FLG_FHCRC;
  head.writeUInt16LE(extraLen, GZIP_FIXED);
  head[GZIP_FIXED + 2] = SI1;
  head[GZIP_FIXED + 3] = SI2;
  head.writeUInt16LE(payloadLen, GZIP_FIXED + 4);
  encodePayload({ ...info, memberBytes }).copy(head, GZIP_FIXED + 6);
  head.writeUInt16LE(crc32(head.subarray(0, headLen - 2)) & 0xffff, headLen - 2);
  return Buffer.concat([head, gz.subarray(GZIP_FIXED)], memberBytes);
}

/** Bytes a reader needs to see to parse any member header: the fixed part, the longest extra field, the CRC. */
export const MAX_MEMBER_HEADER = GZIP_FIXED + 2 + 65535 + 2;

export type HeaderParse =
  | { ok: true; info: ChunkInfo }
  /** Not a gzip member, or one without procimage's subfield. */
  | { ok: false; why: 'not_gzip' | 'no_subfield' | 'newer_payload' | 'bad_payload' | 'bad_crc' }
  /** The bytes end before the header does. */
  | { ok: false; why: 'short' };

/** Parses the member header at the start of `b` (which may hold more after it, or less: 'short'). */
export function parseMemberHeader(b: Buffer): HeaderParse {
  if (b.length < GZIP_FIXED + 2) {
    // a few bytes that start like a gzip member are a truncated one; anything else is not one
    const prefix = [GZIP_ID1, GZIP_ID2, CM_DEFLATE].slice(0, b.length);
    return prefix.every((x, i) => b[i] === x) ? { ok: false, why: 'short' } : { ok: false, why: 'not_gzip' };
  }
  if (b[0] !== GZIP_ID1 || b[1] !== GZIP_ID2 || b[2] !== CM_DEFLATE) return { ok: false, why: 'not_gzip' };
  if (!(b[3] & FLG_FEXTRA) || b[3] & (FLG_FNAME | FLG_FCOMMENT)) return { ok: false, why: 'no_subfield' };
  const xlen = b.readUInt16LE(GZIP_FIXED);
  const hcrc = b[3] & FLG_FHCRC ? 2 : 0;
  if (b.length < GZIP_FIXED + 2 + xlen + hcrc) return { ok: false, why: 'short' };
  if (hcrc && b.readUInt16LE(GZIP_FIXED + 2 + xlen) !== (crc32(b.subarray(0, GZIP_FIXED + 2 + xlen)) & 0xffff)) {
    return { ok: false, why: 'bad_crc' };
  }
  let at = GZIP_FIXED + 2;
  const end = at + xlen;
  while (at + 4 <= end) {
    const len = b.readUInt16LE(at + 2);
    if (b[at] === SI1 && b[at + 1] === SI2) {
      if (at + 4 + len > end || len < FIXED_PAYLOAD) return { ok: false, why: 'bad_payload' };
      const p = b.subarray(at + 4, at + 4 + len);
      if (p[0] > PAYLOAD_VERSION) return { ok: false, why: 'newer_payload' };
      const n = p.readUInt32LE(32);
      if (len < FIXED_PAYLOAD + 4 * n) return { ok: false, why: 'bad_payload' };
      const flushes = Array.from({ length: n }, (_, i) => p.readUInt32LE(FIXED_PAYLOAD + 4 * i));
      const info: ChunkInfo = {
        kind: p[1] as ChunkKind, seq: p.readUInt32LE(4), memberBytes: p.readUInt32LE(8), lines: p.readUInt32LE(12),
        tsMin: p.readBigUInt64LE(16), tsMax: p.readBigUInt64LE(24), flushes,
      };
      if (info.kind > ChunkKind.End || info.memberBytes < end + hcrc + 8) return { ok: false, why: 'bad_payload' };
      return { ok: true, info };
    }
    at += 4 + len;
  }
  return { ok: false, why: 'no_subfield' };
}
