// --record FILE: an activation's records, as a stream of compressed chunks (format.ts,
// docs/recording.md). A sink like the others: every record the session hands out is written, in
// order, exactly as --json prints it. Chunks are sealed at least every second and compressed off the
// event loop (libuv's pool), then written in order; nothing is kept for the file beyond the chunk
// being filled and the chunks on their way to the disk, and when the disk falls behind the session
// stops draining the ring (backedUp) rather than holding more.
import { fdatasync, unlinkSync, write, close } from 'node:fs';
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
/** Sealed chunks not on the disk yet, in NDJSON bytes: past this the session waits (backedUp). */
const MAX_PENDING = 32 << 20;
/**
 * gzip level 1: on the NDJSON of a switch-heavy target (stacks in every record) it compresses 21x
 * at ~600 MB/s of one core here, level 6 29x at ~200 MB/s (docs/performance.md, recording). The
 * CPU is what a busy target pays for; 21x is well past what the disk needs.
 */
const LEVEL = 1;

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
}

export class RecordingWriter implements Sink {
  private clock: Clock | undefined;
  private lines: string[] = [];
  private bytes = 0;
  /** Lines of the open chunk at the last flush mark. */
  private marked = 0;
  private flushes: number[] = [];
  private tsMin = Infinity;
  private tsMax = -Infinity;
  private sealTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  /** Where the next member goes (written with explicit offsets: order is the queue's). */
  private position = 0;
  /** NDJSON bytes sealed and not yet written. */
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
    const member = chunkMember(gzipSync(line, { level: LEVEL }), {
      kind: ChunkKind.Header, seq: this.seq++, lines: 1, tsMin: clock.toAbsolute(header.ts_ns), tsMax: clock.toAbsolute(header.ts_ns), flushes: [],
    });
    this.enqueue(Promise.resolve(member), line.length);
  }

  write(r: ProcRecord): void {
    if (this.finished) return;
    if (this.error !== undefined) {
      this.dropped++;
      return;
    }
    const line = toNdjson(r, this.clock!);
    if (this.lines.length === 0) this.sealTimer = setTimeout(() => this.seal(ChunkKind.Records), CHUNK_MS).unref();
    this.lines.push(line);
    this.bytes += line.length + 1;
    this.records++;
    if (r.ts_ns < this.tsMin) this.tsMin = r.ts_ns;
    if (r.ts_ns > this.tsMax) this.tsMax = r.ts_ns;
  }

  /** The end of a batch: marked, so that a report hands the records out in the same batches. */
  flush(): void {
    if (this.lines.length > this.marked) {
      this.flushes.push(this.lines.length);
      this.marked = this.lines.length;
    }
    if (this.bytes >= CHUNK_BYTES || this.flushes.length >= MAX_FLUSHES) this.seal(ChunkKind.Records);
  }

  backedUp(): Promise<void> | undefined {
    return this.caughtUp?.promise;
  }

  /** Seals the open chunk: compressed on libuv's pool, written after the chunks before it. */
  private seal(kind: ChunkKind, last?: string): void {
    clearTimeout(this.sealTimer);
    if (this.lines.length === 0 && last === undefined) return;
    if (last !== undefined) this.lines.push(last);
    const text = this.lines.join('\n') + '\n';
    const clock = this.clock!;
    const info = {
      kind, seq: this.seq++, lines: this.lines.length, flushes: this.flushes,
      tsMin: this.tsMin <= this.tsMax ? clock.toAbsolute(this.tsMin) : 0n, tsMax: this.tsMin <= this.tsMax ? clock.toAbsolute(this.tsMax) : 0n,
    };
    this.lines = [];
    this.bytes = 0;
    this.marked = 0;
    this.flushes = [];
    this.tsMin = Infinity;
    this.tsMax = -Infinity;
    this.enqueue(gzipAsync(text, { level: LEVEL }).then(gz => chunkMember(gz, info)), text.length);
  }

  /** Writes a member once it is made and every member before it is written; a failure ends the file there. */
  private enqueue(member: Promise<Buffer>, ndjsonBytes: number): void {
    this.pending += ndjsonBytes;
    if (this.pending > MAX_PENDING && !this.caughtUp) {
      let resolve!: () => void;
      const promise = new Promise<void>(r => { resolve = r; });
      this.caughtUp = { promise, resolve };
    }
    member.catch(() => undefined); // its failure is reported where the queue awaits it
    this.queue = this.queue.then(async () => {
      try {
        if (this.error !== undefined) return;
        const b = await member;
        for (let off = 0; off < b.length;) {
          const { bytesWritten } = await writeAsync(this.fd, b, off, b.length - off, this.position);
          off += bytesWritten;
          this.position += bytesWritten;
        }
      } catch (e) {
        this.fail(e as NodeJS.ErrnoException);
      } finally {
        this.pending -= ndjsonBytes;
        if (this.caughtUp && (this.pending <= MAX_PENDING / 2 || this.error !== undefined)) {
          this.caughtUp.resolve();
          this.caughtUp = undefined;
        }
      }
    });
  }

  private fail(e: NodeJS.ErrnoException): void {
    if (this.error !== undefined) return;
    this.error = e.errno ? describeErrno(e.errno) : e.message;
    this.onError(`recording ${this.path}: ${this.error}: the recording ends after ${this.position} bytes ` +
      '(procimage report reads it up to there); the other outputs go on');
  }

  /**
   * Ends the file: the last records and the summary (none when collection ended without one), on
   * the disk (fdatasync) before this resolves.
   */
  async finish(summary: SessionSummary | undefined): Promise<RecordingStats> {
    if (!this.finished) {
      this.finished = true;
      const clock = this.clock!;
      // without a summary the file stays without an end: a reader says it is incomplete, as it is
      if (summary) this.seal(ChunkKind.End, stringifyWithInstants({ type: 'summary', ...summary }, clock));
      else this.seal(ChunkKind.Records);
      await this.queue;
      if (this.error === undefined) await fdatasyncAsync(this.fd).catch(e => this.fail(e as NodeJS.ErrnoException));
      await closeAsync(this.fd).catch(() => undefined);
      this.fd = -1;
    }
    return { path: this.path, bytes: this.position, records: this.records - this.dropped, chunks: this.seq, error: this.error, dropped: this.dropped };
  }

  /** Gives up the file without a summary (the activation it was for failed to start): removed. */
  async discard(): Promise<void> {
    this.finished = true;
    clearTimeout(this.sealTimer);
    await this.queue;
    if (this.fd >= 0) await closeAsync(this.fd).catch(() => undefined);
    this.fd = -1;
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }
}
