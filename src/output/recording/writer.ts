// --record FILE: an activation's records, as a stream of compressed chunks (format.ts,
// docs/recording.md). A sink like the others: every record the session hands out is written, in
// order, exactly as --json prints it.
//
// Each line is encoded at once into the chunk's buffer (outside V8's heap), and the chunk compressed
// as one piece on libuv's pool when it is sealed. Holding a chunk's lines as strings until then (a
// second, a MiB) had them outlive V8's young generation: garbage collection took a third of
// procimage's CPU on a switch-heavy target; a gzip stream fed batch by batch cost ~4 µs a record in
// its stream machinery (docs/performance.md, recording). A chunk is sealed at least every second and
// written after the chunks before it; nothing is kept for the file beyond the chunk being filled
// and the chunks on their way to the disk, and when the disk falls behind the session stops
// draining the ring (backedUp) rather than holding more.
import { fdatasync, fstatSync, unlinkSync, write, close } from 'node:fs';
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';
import type { Clock } from '../../collect/clock.js';
import type { ProcRecord } from '../../collect/records.js';
import type { Sink, SessionSummary } from '../../model/session.js';
import { describeErrno } from '../../sys/errors.js';
import { createPrivateFile } from '../files.js';
import { stringifyWithInstants } from '../json.js';
import { toNdjson } from '../ndjson.js';
import { ChunkKind, MAX_FLUSHES, chunkMember } from './format.js';
import type { RecordingHeader } from './header.js';

/** A chunk is sealed once it holds this much NDJSON... */
const CHUNK_BYTES = 1 << 20;
/** ... or this long after its first line, whichever comes first: what a SIGKILL can cost at most. */
export const CHUNK_MS = 1000;
/** NDJSON bytes written to the file's chunks and not on the disk yet: past this the session waits (backedUp). */
const MAX_PENDING = 32 << 20;
/**
 * gzip level 1: on the NDJSON of a switch-heavy target (stacks in every record) it compresses 21x
 * at ~600 MB/s of one core here, level 6 29x at ~200 MB/s (docs/performance.md, recording). The
 * CPU is what a busy target pays for; 21x is well past what the disk needs.
 */
const LEVEL = 1;

/** The error of a recording whose file was removed while it was written. */
const DELETED = 'the file was deleted while it was written';

const gzipAsync = promisify(gzip);
const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);
const closeAsync = promisify(close);

export interface RecordingStats {
  path: string;
  /** Bytes on disk. */
  bytes: number;
  /** Records written (every line but the header and the summary). */
  records: number;
  chunks: number;
  /** Why writing stopped early (a full disk...), and the records that could not be written after it. */
  error?: string;
  dropped: number;
  /** The file was deleted while it was written: nothing of it remains. */
  gone?: boolean;
}

/** The chunk being filled: its lines, encoded, and what its header will say. */
interface OpenChunk {
  buf: Buffer;
  /** Bytes of buf used. */
  bytes: number;
  lines: number;
  flushes: number[];
  tsMin: number;
  tsMax: number;
  timer: NodeJS.Timeout;
}

export class RecordingWriter implements Sink {
  private clock: Clock | undefined;
  private chunk: OpenChunk | undefined;
  /** Lines of the open chunk at its last flush mark. */
  private marked = 0;
  private seq = 0;
  /** Where the next member goes (written with explicit offsets: order is the queue's). */
  private position = 0;
  /** NDJSON bytes of sealed chunks not yet on the disk. */
  private pending = 0;
  private queue: Promise<void> = Promise.resolve();
  private caughtUp: { promise: Promise<void>; resolve: () => void } | undefined;
  private error: string | undefined;
  private records = 0;
  private dropped = 0;
  private finished = false;

  private constructor(readonly path: string, private fd: number, private readonly onError: (msg: string) => void) {}

  /** Creates FILE for writing (files.ts: mode 0600, never through a symlink). */
  static create(file: string, onError: (msg: string) => void): RecordingWriter {
    const { path, fd } = createPrivateFile(file, 'record to');
    return new RecordingWriter(path, fd, onError);
  }

  /** Writes the header chunk (at once: a file that exists is readable from its first second). */
  begin(header: RecordingHeader, clock: Clock): void {
    this.clock = clock;
    const line = stringifyWithInstants(header, clock) + '\n';
    const at = clock.toAbsolute(header.ts_ns);
    const member = chunkMember(gzipSync(line, { level: LEVEL }), { kind: ChunkKind.Header, seq: this.seq++, lines: 1, tsMin: at, tsMax: at, flushes: [] });
    this.pending += line.length;
    this.enqueue(Promise.resolve(member), line.length, 0);
  }

  write(r: ProcRecord): void {
    if (this.finished) return;
    if (this.error !== undefined) {
      this.dropped++;
      return;
    }
    const line = toNdjson(r, this.clock!);
    const c = this.room(line.length);
    c.bytes += c.buf.write(line, c.bytes);
    c.buf[c.bytes++] = 0x0a;
    c.lines++;
    this.records++;
    if (r.ts_ns < c.tsMin) c.tsMin = r.ts_ns;
    if (r.ts_ns > c.tsMax) c.tsMax = r.ts_ns;
  }

  /**
   * The open chunk, with room for a line of `chars` UTF-16 units (at most 3 bytes each in UTF-8,
   * and the newline): a full one is sealed first (between two lines of a batch: its end is not a
   * flush mark, which a reader takes as one anyway).
   */
  private room(chars: number): OpenChunk {
    const need = 3 * chars + 1;
    if (this.chunk && this.chunk.bytes + need > this.chunk.buf.length) this.seal(ChunkKind.Records);
    return this.chunk ?? this.open(need);
  }

  private open(need = 0): OpenChunk {
    const timer = setTimeout(() => this.seal(ChunkKind.Records), CHUNK_MS).unref();
    this.marked = 0;
    // a little past CHUNK_BYTES: the chunk is sealed at the flush that crosses it
    return this.chunk = { buf: Buffer.allocUnsafe(Math.max(CHUNK_BYTES + (64 << 10), need)), bytes: 0, lines: 0, flushes: [],
      tsMin: Infinity, tsMax: -Infinity, timer };
  }

  /** The end of a batch: marked, so that a report hands the records out in the same batches. */
  flush(): void {
    const c = this.chunk;
    if (!c) return;
    if (c.lines > this.marked) {
      c.flushes.push(c.lines);
      this.marked = c.lines;
    }
    if (c.bytes >= CHUNK_BYTES || c.flushes.length >= MAX_FLUSHES) this.seal(ChunkKind.Records);
  }

  backedUp(): Promise<void> | undefined {
    return this.caughtUp?.promise;
  }

  /** Seals the open chunk (with `last`, a line after its records): written after the chunks before it. */
  private seal(kind: ChunkKind, last?: string): void {
    if (last !== undefined) {
      const c = this.room(last.length);
      c.bytes += c.buf.write(last, c.bytes);
      c.buf[c.bytes++] = 0x0a;
      c.lines++;
    }
    const c = this.chunk;
    if (!c) return;
    this.chunk = undefined;
    clearTimeout(c.timer);
    this.pending += c.bytes;
    if (this.pending > MAX_PENDING && !this.caughtUp) {
      let resolve!: () => void;
      const promise = new Promise<void>(r => { resolve = r; });
      this.caughtUp = { promise, resolve };
    }
    const clock = this.clock!;
    const some = c.tsMin <= c.tsMax;
    const info = {
      kind, seq: this.seq++, lines: c.lines, flushes: c.flushes,
      tsMin: some ? clock.toAbsolute(c.tsMin) : 0n, tsMax: some ? clock.toAbsolute(c.tsMax) : 0n,
    };
    const member = gzipAsync(c.buf.subarray(0, c.bytes), { level: LEVEL }).then(gz => chunkMember(gz, info));
    member.catch(() => undefined); // reported where the queue awaits it
    this.enqueue(member, c.bytes, c.lines - (last !== undefined ? 1 : 0));
  }

  /**
   * Writes a member once it is made and every member before it is written; a failure ends the file
   * there, and the records of the members not written are counted as such.
   */
  private enqueue(member: Promise<Buffer>, ndjsonBytes: number, records: number): void {
    this.queue = this.queue.then(async () => {
      try {
        if (this.error !== undefined) {
          this.dropped += records;
          return;
        }
        const b = await member;
        if (this.deleted()) throw new Error(DELETED);
        for (let off = 0; off < b.length;) {
          const { bytesWritten } = await writeAsync(this.fd, b, off, b.length - off, this.position);
          off += bytesWritten;
          this.position += bytesWritten;
        }
      } catch (e) {
        this.fail(e as NodeJS.ErrnoException);
        this.dropped += records;
      } finally {
        this.pending -= ndjsonBytes;
        if (this.caughtUp && (this.pending <= MAX_PENDING / 2 || this.error !== undefined)) {
          this.caughtUp.resolve();
          this.caughtUp = undefined;
        }
      }
    });
  }

  /**
   * Someone removed the file (rm, a cleanup job) while it was written: what is written goes to an
   * inode nobody can open again. Asked once a chunk (at most every second), and at the end.
   */
  private deleted(): boolean {
    try {
      return fstatSync(this.fd).nlink === 0;
    } catch {
      return false;
    }
  }

  private fail(e: NodeJS.ErrnoException): void {
    if (this.error !== undefined) return;
    this.error = e.errno ? describeErrno(e.errno) : e.message;
    this.onError(this.error === DELETED
      ? `recording ${this.path}: ${DELETED}: nothing more is written to it, and what was is gone with it; the other outputs go on`
      : `recording ${this.path}: ${this.error}: the recording ends after ${this.position} bytes ` +
        '(procimage report reads it up to there); the other outputs go on');
    // what is being filled will not be written: its compressor's memory goes now
    if (this.chunk) {
      this.dropped += this.chunk.lines;
      clearTimeout(this.chunk.timer);
      this.chunk = undefined;
    }
  }

  /**
   * Ends the file: the last records and the summary (none when collection ended without one), on
   * the disk (fdatasync) before this resolves.
   */
  async finish(summary: SessionSummary | undefined): Promise<RecordingStats> {
    if (!this.finished) {
      this.finished = true;
      if (this.error === undefined) {
        // without a summary the file stays without an end: a reader says it is incomplete, as it is
        if (summary) this.seal(ChunkKind.End, stringifyWithInstants({ type: 'summary', ...summary }, this.clock!));
        else this.seal(ChunkKind.Records);
      }
      await this.queue;
      if (this.error === undefined && this.deleted()) this.fail(new Error(DELETED));
      if (this.error === undefined) await fdatasyncAsync(this.fd).catch(e => this.fail(e as NodeJS.ErrnoException));
      await closeAsync(this.fd).catch(() => undefined);
      this.fd = -1;
    }
    return { path: this.path, bytes: this.position, records: this.records - this.dropped, chunks: this.seq, error: this.error, dropped: this.dropped,
      ...(this.error === DELETED ? { gone: true } : {}) };
  }

  /** Gives up the file without a summary (the activation it was for failed to start): removed. */
  async discard(): Promise<void> {
    this.finished = true;
    if (this.chunk) {
      clearTimeout(this.chunk.timer);
      this.chunk = undefined;
    }
    await this.queue;
    if (this.fd >= 0) await closeAsync(this.fd).catch(() => undefined);
    this.fd = -1;
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }
}
