// Numbers for people, in the page: the same formats as the text output (src/output/format.ts).
export { bytes, count, duration } from '../../src/output/format.js';
import { duration } from '../../src/output/format.js';

/** ns since the start as seconds: "12.345 s" (to the ms: a person zooms for more). */
export function secs(ns: number, digits = 3): string {
  return `${(ns / 1e9).toFixed(digits)} s`;
}

/** A duration that may be unknown. */
export const dur = (ns: number | null | undefined): string => (ns === null || ns === undefined ? '–' : duration(ns));

/** How a process or thread ended. */
export function ending(p: { end: number | null; exitCode: number | null; signal: string | null; coreDumped?: boolean }): string {
  if (p.end === null) return 'running';
  if (p.signal) return `killed by ${p.signal}${p.coreDumped ? ' (core dumped)' : ''}`;
  return `exit ${p.exitCode}`;
}

/** A duration in three digits, for chart axes: "980 ns", "20.0 µs", "1.50 ms", "2.00 s". */
export function durShort(ns: number): string {
  const a = Math.abs(ns);
  const three = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
  if (a < 1e3) return `${Math.round(ns)} ns`;
  if (a < 1e6) return `${three(ns / 1e3)} µs`;
  if (a < 1e9) return `${three(ns / 1e6)} ms`;
  return `${three(ns / 1e9)} s`;
}
