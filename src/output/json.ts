// JSON for the objects around the records (a recording's header and summary), whose instants sit at
// any depth: every number under a key `ts_ns` or `*_ts_ns` is an instant, held as ns since the
// session clock's epoch and written as absolute CLOCK_MONOTONIC ns, exact past 2^53 (as ndjson.ts
// writes the records' own). parseWithInstants is the way back.
import type { Clock } from '../collect/clock.js';

export const isInstantKey = (k: string): boolean => k === 'ts_ns' || k.endsWith('_ts_ns');

export function stringifyWithInstants(v: unknown, clock: Clock, key = ''): string {
  if (typeof v === 'number') return !Number.isFinite(v) ? 'null' : isInstantKey(key) ? clock.toAbsoluteString(v) : String(v);
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(x => (x === undefined ? 'null' : stringifyWithInstants(x, clock, key))).join(',')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || typeof x === 'function') continue;
    parts.push(`${JSON.stringify(k)}:${stringifyWithInstants(x, clock, k)}`);
  }
  return `{${parts.join(',')}}`;
}

/** Instants in JSON text: a key, then digits (a plain JSON integer). */
const INSTANT = /("(?:[A-Za-z0-9]+_)*ts_ns"\s*:\s*)(-?\d+)(?=[\s,}\]])/g;

/**
 * JSON text written by stringifyWithInstants (or ndjson.ts) back to objects whose instants are ns
 * since `epoch` (absolute ns). The subtraction is done on the digits, as BigInts, before JSON.parse
 * turns them into doubles, so that instants past 2^53 come back exact.
 */
export function parseWithInstants<T = unknown>(text: string, epoch: bigint): T {
  return JSON.parse(text.replace(INSTANT, (_, k: string, n: string) => `${k}${BigInt(n) - epoch}`)) as T;
}
