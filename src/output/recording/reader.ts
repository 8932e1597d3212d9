// Reading a recording back (format.ts, docs/recording.md), one chunk at a time: memory holds one chunk,
// whatever the file's size. A file whose writer was killed ends in a partial chunk, or after a whole
// one without the end: what was written whole is read, and `ending` says where it stops. A damaged
// chunk before the end, a file that is not a recording, or one of a newer format are errors (one line).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Clock } from '../../collect/clock.js';
import type { ProcRecord } from '../../collect/records.js';
import type { SessionSummary } from '../../model/session.js';
import { describeErrno, UserError } from '../../sys/errors.js';
import { isInstantKey, parseWithInstants } from '../json.js';
import { ChunkKind, FORMAT_VERSION, MAX_MEMBER_HEADER, parseMemberHeader, type ChunkInfo } from './format.js';
import type { RecordingHeader } from './header.js';

/** A recording that cannot be read (or no further): the CLI prints it as one line. */
export class RecordingError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export interface Chunk {
  info: ChunkInfo;
  /** Where its member starts in the file. */
  offset: number;
  /** Its lines (records; the End chunk's summary line is taken off and kept as `summary`). */
  lines: string[];
}

/** How the file ended, once chunks() has read it all. */
export type Ending =
  | { complete: true }
  | {
    complete: false;
    /** Bytes of the file that were read (whole chunks); the file is `size` bytes. */
    readable: number;
    /** Chunks read, the header's included. */
    chunks: number;
    /** The latest ts_ns of what was read (ns since the header's start), if any record was. */
    lastTs: number | undefined;
    why: string;
  };

/** Record fields that hold stacks (or their locations): shared and frozen when read (parseRecord). */
const STACK_KEYS = new Set(['kstack', 'ustack', 'ustack_locs']);
const EMPTY: readonly string[] = Object.freeze([]);
/** Distinct stacks kept for sharing; past it the table starts over. */
const MAX_STACKS = 50_000;

/** A member more than this is not one procimage wrote (chunks are sealed at 1 MiB of NDJSON). */
const MAX_MEMBER = 256 << 20;
/**
 * Nor one that inflates to more than this: a damaged or crafted member may say anything (a gzip
 * "bomb" inflates 1000-fold), and inflating it whole would hold all of it in memory.
 */
const MAX_INFLATED = 64 << 20;
/** A crash loses whole filesystem blocks: the zeros it leaves start at a multiple of this. */
const BLOCK = 4096;

export class RecordingReader {
  readonly header: RecordingHeader;
  /** Instants of what is read are ns since the activation's start (header.ts_ns = 0): this clock's epoch. */
  readonly clock: Clock;
  readonly size: number;
  /** The summary the writer ended with; undefined until chunks() has read the end (or if there is none). */
  summary: SessionSummary | undefined;
  ending: Ending | undefined;
  private readonly epoch: bigint;
  private readonly epochNum: number;
  private position: number;
  private seq: number;
  private lastTs: number | undefined;

  private constructor(readonly path: string, private fd: number) {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new RecordingError(`${path} is a directory, not a procimage recording`);
    this.size = st.size;
    if (this.size === 0) throw new RecordingError(`${path}: empty file, not a procimage recording`);
    const first = this.member(0);
    if (first.kind !== 'ok' || first.info.kind !== ChunkKind.Header || first.info.seq !== 0) {
      const why = first.kind === 'ok' ? 'its first chunk is not a header'
        : first.truncated ? 'it ends inside its first chunk' : first.why;
      throw new RecordingError(first.kind === 'bad' && first.notRecording ? `${path}: not a procimage recording (${first.why})`
        : `${path}: not a readable procimage recording: ${why}`);
    }
    const line = first.text.split('\n')[0];
    const absTs = /"ts_ns":(\d+)/.exec(line)?.[1];
    if (absTs === undefined) throw new RecordingError(`${path}: not a readable procimage recording: its header has no ts_ns`);
    this.epoch = BigInt(absTs);
    this.epochNum = this.epoch <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(this.epoch) : NaN;
    this.clock = new Clock(this.epoch);
    let header: RecordingHeader;
    try {
      header = parseWithInstants<RecordingHeader>(line, this.epoch);
    } catch {
      throw new RecordingError(`${path}: not a readable procimage recording: its header is not JSON`);
    }
    if (header.type !== 'recording' || typeof header.format !== 'number') {
      throw new RecordingError(`${path}: not a procimage recording (its first line is not a recording header)`);
    }
    if (header.format > FORMAT_VERSION) {
      throw new RecordingError(`${path}: written by procimage ${header.procimage} in recording format ${header.format}; ` +
        `this procimage (format ${FORMAT_VERSION}) cannot read it: use a newer procimage`);
    }
    // exact: JSON.parse would round these ~1.8e18 values to the nearest 256 ns
    for (const k of ['realtime_offset_ns', 'boottime_offset_ns'] as const) {
      const m = new RegExp(`"${k}":(-?\\d+)`).exec(line);
      header[k] = m ? BigInt(m[1]) : 0n;
    }
    this.header = header;
    this.position = first.info.memberBytes;
    this.seq = 1;
  }

  static open(path: string): RecordingReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new RecordingError(`cannot read ${path}: ${err.errno ? describeErrno(err.errno) : err.message}`);
    }
    try {
      return new RecordingReader(path, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  private read(at: number, len: number): Buffer {
    const b = Buffer.alloc(Math.max(0, Math.min(len, this.size - at)));
    let got = 0;
    while (got < b.length) {
      const n = readSync(this.fd, b, got, b.length - got, at + got);
      if (n === 0) break;
      got += n;
    }
    return b.subarray(0, got);
  }

  /** Where the zeros that end the file start (its size if it does not end in zeros). */
  private trailingZeros(): number {
    let end = this.size;
    while (end > 0) {
      const from = Math.max(0, end - (64 << 10));
      const b = this.read(from, end - from);
      let i = b.length;
      while (i > 0 && b[i - 1] === 0) i--;
      if (i > 0) return from + i;
      end = from;
    }
    return 0;
  }

  /**
   * Where the zeros a crash left start, if the member at `at` (of `len` bytes) is damaged by them:
   * nothing but zeros from the member's start, or from a block boundary inside it, to the end.
   * (Not any zeros at the end: a gzip trailer's length ends in zero bytes.)
   */
  private crashZeros(at: number, len: number): number | undefined {
    const z = this.trailingZeros();
    if (z <= at) return at;
    const block = Math.ceil(z / BLOCK) * BLOCK;
    return block < Math.min(at + len, this.size) ? block : undefined;
  }

  /** The member at `at`: its info and text (with inflate false, none: not even checked), or why not. */
  private member(at: number, inflate: (info: ChunkInfo) => boolean = () => true):
    | { kind: 'ok'; info: ChunkInfo; text: string }
    | { kind: 'bad'; why: string; notRecording?: boolean; truncated?: boolean; memberBytes?: number } {
    const head = this.read(at, Math.min(MAX_MEMBER_HEADER, 16 << 10));
    let h = parseMemberHeader(head);
    if (!h.ok && h.why === 'short' && head.length === 16 << 10) h = parseMemberHeader(this.read(at, MAX_MEMBER_HEADER));
    if (!h.ok) {
      switch (h.why) {
        case 'short': return { kind: 'bad', why: 'the file ends inside a chunk header', truncated: true };
        case 'not_gzip': return { kind: 'bad', why: 'not gzip data', notRecording: at === 0 };
        case 'no_subfield': return { kind: 'bad', why: "gzip without procimage's chunk header", notRecording: at === 0 };
        case 'newer_payload': return { kind: 'bad', why: 'a chunk header of a newer procimage: use a newer procimage' };
        case 'bad_crc': return { kind: 'bad', why: 'a chunk header whose CRC does not match' };
        default: return { kind: 'bad', why: 'a damaged chunk header' };
      }
    }
    const info = h.info;
    if (info.memberBytes > MAX_MEMBER) return { kind: 'bad', why: `a chunk header says ${info.memberBytes} bytes` };
    if (at + info.memberBytes > this.size) {
      return { kind: 'bad', why: `the file ends inside chunk ${info.seq} (${this.size - at} of its ${info.memberBytes} bytes)`, truncated: true };
    }
    if (!inflate(info)) return { kind: 'ok', info, text: '' };
    let text: string;
    try {
      text = gunzipSync(this.read(at, info.memberBytes), { maxOutputLength: MAX_INFLATED }).toString('utf8');
    } catch (e) {
      // the last chunk of a file cut short by a crash may be zeros: as truncated; earlier, damage
      const last = at + info.memberBytes === this.size;
      const why = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
        ? `chunk ${info.seq} inflates to more than ${MAX_INFLATED >> 20} MiB, more than procimage writes in one`
        : `chunk ${info.seq} does not inflate (${(e as Error).message})`;
      return { kind: 'bad', why, truncated: last && !why.includes('MiB'), memberBytes: info.memberBytes };
    }
    return { kind: 'ok', info, text };
  }

  /**
   * The chunks after the header, in order. Sets `summary` and `ending` when done; throws a
   * RecordingError at damage found before the end (after handing out every chunk before it).
   * want: whether a chunk is to be read; one that is not comes without lines (its member is skipped
   * by its size, not inflated). The end chunk is always read: it holds the summary.
   */
  *chunks(want: (info: ChunkInfo) => boolean = () => true): Generator<Chunk> {
    for (;;) {
      if (this.position >= this.size) {
        this.ending = this.incomplete('it ends after a whole chunk but without the summary: its writer did not finish (killed, or crashed)');
        return;
      }
      const at = this.position;
      const m = this.member(at, info => info.kind === ChunkKind.End || want(info));
      if (m.kind === 'bad') {
        const zeros = m.truncated ? undefined : this.crashZeros(at, m.memberBytes ?? MAX_MEMBER_HEADER);
        if (m.truncated || zeros !== undefined) {
          this.ending = this.incomplete(m.truncated ? m.why : `zeros from byte ${zeros} on: the end of the file was never written`);
          return;
        }
        throw new RecordingError(`${this.path}: damaged at byte ${at}: ${m.why}`);
      }
      if (m.info.seq !== this.seq) throw new RecordingError(`${this.path}: damaged at byte ${at}: chunk ${m.info.seq} where ${this.seq} should be`);
      this.seq++;
      this.position = at + m.info.memberBytes;
      const lines = m.text.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      if (m.info.kind === ChunkKind.End) {
        const last = lines.pop();
        if (last !== undefined) this.summary = this.parseSummary(last);
      }
      if (m.info.tsMax !== 0n) this.lastTs = Math.max(this.lastTs ?? -Infinity, Number(m.info.tsMax - this.epoch));
      yield { info: m.info, offset: at, lines };
      if (m.info.kind === ChunkKind.End) {
        if (this.position < this.size) throw new RecordingError(`${this.path}: damaged: ${this.size - this.position} bytes after the end`);
        this.ending = { complete: true };
        return;
      }
    }
  }

  private incomplete(why: string): Ending {
    return { complete: false, readable: this.position, chunks: this.seq, lastTs: this.lastTs, why };
  }

  private parseSummary(line: string): SessionSummary | undefined {
    try {
      const s = parseWithInstants<SessionSummary & { type?: string }>(line, this.epoch);
      if (s.type !== 'summary') throw new Error('not a summary');
      delete s.type;
      return s;
    } catch {
      throw new RecordingError(`${this.path}: damaged: its last line is not the summary`);
    }
  }

  /**
   * A record line to a record whose instants are ns since the activation's start. Its stacks are
   * shared, frozen arrays, one per distinct stack, as the live session hands them out: what caches
   * per stack array downstream (the text output's "why ← where") works on a report too.
   */
  parseRecord(line: string): ProcRecord {
    let r: Record<string, unknown>;
    try {
      r = (Number.isNaN(this.epochNum) ? parseWithInstants(line, this.epoch) : JSON.parse(line)) as Record<string, unknown>;
    } catch (e) {
      throw new RecordingError(`${this.path}: damaged: a line that is not JSON (${(e as Error).message})`);
    }
    if (typeof r !== 'object' || r === null || Array.isArray(r) || typeof r.type !== 'string') {
      throw new RecordingError(`${this.path}: damaged: a line that is not a procimage record`);
    }
    return this.relative(r, !Number.isNaN(this.epochNum)) ? r as unknown as ProcRecord : this.parseExact(line);
  }

  /**
   * Instants of o (and of the objects in it: an offcpu record's `waker`) made relative if `shift`,
   * stacks interned; false if an instant is past 2^53 (the caller parses the line exactly instead).
   */
  private relative(o: Record<string, unknown>, shift: boolean): boolean {
    for (const k in o) {
      const v = o[k];
      if (Array.isArray(v)) {
        if (STACK_KEYS.has(k)) o[k] = this.intern(v as string[]);
      } else if (typeof v === 'number' && isInstantKey(k) && shift) {
        if (!Number.isSafeInteger(v)) return false;
        o[k] = v - this.epochNum;
      } else if (v !== null && typeof v === 'object' && !this.relative(v as Record<string, unknown>, shift)) {
        return false;
      }
    }
    return true;
  }

  /** A line whose instants are past 2^53: the subtraction on the digits. */
  private parseExact(line: string): ProcRecord {
    const r = parseWithInstants<Record<string, unknown>>(line, this.epoch);
    this.relative(r, false); // the stacks, at any depth
    return r as unknown as ProcRecord;
  }

  private readonly stacks = new Map<string, readonly string[]>();

  private intern(a: string[]): readonly string[] {
    if (a.length === 0) return EMPTY;
    const key = a.join('\n');
    let kept = this.stacks.get(key);
    if (!kept) {
      if (this.stacks.size >= MAX_STACKS) this.stacks.clear();
      this.stacks.set(key, kept = Object.freeze(a));
    }
    return kept;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
