// --json: one JSON object per line (docs/ndjson.md). Instants (`ts_ns`, `*_ts_ns`) are written as
// absolute CLOCK_MONOTONIC ns, exact integers even past 2^53 (JSON numbers have no such limit; JS
// numbers do, so they are printed from a BigInt, not through JSON.stringify).
import type { Writable } from 'node:stream';
import type { Clock } from '../collect/clock.js';
import type { ProcRecord } from '../collect/records.js';
import type { Sink } from '../model/session.js';
import { whenCaughtUp } from './backpressure.js';

const isInstant = (k: string) => k === 'ts_ns' || k.endsWith('_ts_ns');

export function toNdjson(r: ProcRecord, clock: Clock): string {
  let s = '{';
  for (const [k, v] of Object.entries(r)) {
    if (v === undefined) continue;
    if (s.length > 1) s += ',';
    s += JSON.stringify(k) + ':' + (isInstant(k) && typeof v === 'number' ? clock.toAbsolute(v).toString() : JSON.stringify(v));
  }
  return s + '}';
}

/** Buffers lines and writes them once per batch (flush), not once per record. */
export class NdjsonSink implements Sink {
  private pending: string[] = [];

  constructor(private readonly out: Writable, private readonly clock: Clock) {}

  write(r: ProcRecord): void {
    this.pending.push(toNdjson(r, this.clock));
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.out.write(this.pending.join('\n') + '\n');
    this.pending = [];
  }

  backedUp(): Promise<void> | undefined {
    return whenCaughtUp(this.out);
  }
}
