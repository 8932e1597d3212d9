// Exports of a recording for other viewers (Perfetto, pprof, flame graphs): each is fed the records
// of a recording in order, as procimage report reads them, and writes its file at the end.
import { closeSync, writeSync } from 'node:fs';
import type { Clock } from '../../collect/clock.js';
import type { ProcRecord } from '../../collect/records.js';
import type { SessionSummary } from '../../model/session.js';
import { createPrivateFile } from '../files.js';
import type { RecordingHeader } from '../recording/header.js';

export interface ExportContext {
  header: RecordingHeader;
  /** Instants of the records are ns since this clock's epoch (the activation's start). */
  clock: Clock;
}

export interface Exporter {
  record(r: ProcRecord): void;
  /** Writes what is left and closes the file; resolves with a line saying what it wrote. */
  finish(summary: SessionSummary | undefined): Promise<string>;
}

/** A file written in large pieces, synchronously: exports are made after collection, not during it. */
export class OutFile {
  readonly path: string;
  private readonly fd: number;
  private buf = '';
  bytes = 0;

  constructor(file: string) {
    ({ path: this.path, fd: this.fd } = createPrivateFile(file));
  }

  write(s: string): void {
    this.buf += s;
    if (this.buf.length >= 1 << 20) this.flush();
  }

  writeBytes(b: Uint8Array): void {
    this.flush();
    this.put(b);
  }

  private put(b: Uint8Array): void {
    for (let off = 0; off < b.length;) off += writeSync(this.fd, b, off);
    this.bytes += b.length;
  }

  private flush(): void {
    if (!this.buf) return;
    const b = Buffer.from(this.buf);
    this.buf = '';
    this.put(b);
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
