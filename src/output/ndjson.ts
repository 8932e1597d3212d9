// --json: one JSON object per line (docs/ndjson.md). Instants (`ts_ns`, `*_ts_ns`) are written as
// absolute CLOCK_MONOTONIC ns, exact integers even past 2^53 (JSON numbers have no such limit; JS
// numbers do, so they are printed from a BigInt, not through JSON.stringify).
import type { Writable } from 'node:stream';
import type { Clock } from '../collect/clock.js';
import type { ProcRecord } from '../collect/records.js';
import type { Sink } from '../model/session.js';
import { whenCaughtUp } from './backpressure.js';

const CHUNK = 64 << 10;

/** A key as it is printed ('"ts_ns":'), and whether its value is an instant: worked out once per key. */
interface Key { json: string; instant: boolean }
const keys = new Map<string, Key>();

function keyOf(k: string): Key {
  let key = keys.get(k);
  if (key === undefined) keys.set(k, key = { json: JSON.stringify(k) + ':', instant: k === 'ts_ns' || k.endsWith('_ts_ns') });
  return key;
}

/**
 * Stacks are shared, frozen arrays (the stack resolver hands out one array per distinct stack): their
 * JSON is made once. Other arrays and objects go through JSON.stringify each time.
 */
const frozenJson = new WeakMap<readonly unknown[], string>();

function arrayJson(v: unknown[]): string {
  if (!Object.isFrozen(v)) return json(v);
  let s = frozenJson.get(v);
  if (s === undefined) frozenJson.set(v, s = json(v));
  return s;
}

/**
 * JSON.stringify, with DEL, the C1 controls and U+2028/U+2029 escaped too (\u009b): JSON allows them
 * raw, but a target's name holding them would reach the terminal of whoever reads the NDJSON there
 * (U+009B is a CSI, an escape sequence's start, to many terminals). The same value to any JSON parser.
 */
const RAW_CONTROL = /[\u007f-\u009f\u2028\u2029]/;
const RAW_CONTROLS = /[\u007f-\u009f\u2028\u2029]/g;
function json(v: unknown): string {
  const s = JSON.stringify(v);
  return RAW_CONTROL.test(s) ? s.replace(RAW_CONTROLS, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : s;
}

/**
 * One record as a JSON line (without the newline). Written by hand rather than by JSON.stringify of
 * the record, for instants (see above) and for speed: this runs for every record, up to hundreds of
 * thousands a second, and the output is what JSON.stringify would give (a test compares them).
 */
export function toNdjson(r: ProcRecord, clock: Clock): string {
  // --json and --record both write each record: made once
  if (r === last.r && clock === last.clock) return last.line;
  const s = objectJson(r as unknown as Record<string, unknown>, clock);
  last.r = r;
  last.clock = clock;
  last.line = s;
  return s;
}

/** An object's JSON, its instants absolute; objects in it the same way (an offcpu record's `waker`). */
function objectJson(rec: Record<string, unknown>, clock: Clock): string {
  let s = '{';
  for (const k in rec) {
    const v = rec[k];
    if (v === undefined) continue;
    const key = keyOf(k);
    let val: string;
    switch (typeof v) {
      case 'number': val = !Number.isFinite(v) ? 'null' : key.instant ? clock.toAbsoluteString(v) : String(v); break;
      case 'string': val = json(v); break;
      case 'boolean': val = v ? 'true' : 'false'; break;
      default: val = v === null ? 'null' : Array.isArray(v) ? arrayJson(v) : objectJson(v as Record<string, unknown>, clock);
    }
    s += (s.length > 1 ? ',' : '') + key.json + val;
  }
  return s + '}';
}

const last: { r: ProcRecord | undefined; clock: Clock | undefined; line: string } = { r: undefined, clock: undefined, line: '' };

/**
 * Writes lines in chunks of ~64 KiB and at the end of each batch (flush), not once per record, and
 * not a whole batch at once either: a batch of the ring can make megabytes of JSON, which, held until
 * its end, outlived V8's young generation and was copied into the old one — a third of the daemon's
 * CPU went to garbage collection under a fork storm.
 */
export class NdjsonSink implements Sink {
  private chunk = '';

  constructor(private readonly out: Writable, private readonly clock: Clock) {}

  write(r: ProcRecord): void {
    this.chunk += toNdjson(r, this.clock) + '\n';
    if (this.chunk.length >= CHUNK) this.flush();
  }

  flush(): void {
    if (this.chunk.length === 0) return;
    this.out.write(this.chunk);
    this.chunk = '';
  }

  backedUp(): Promise<void> | undefined {
    return whenCaughtUp(this.out);
  }
}
