// Number formatting shared by the text outputs. Exact to the ns: no floating-point division of
// large ns values.
import { needsEscape, printable } from '../sys/printable.js';

/** ns as seconds with nine decimals: 1234567890 -> "1.234567890". */
export function seconds9(ns: number): string {
  const neg = ns < 0;
  const a = Math.abs(Math.round(ns));
  const s = Math.floor(a / 1e9), frac = a - s * 1e9;
  return `${neg ? '-' : ''}${s}.${String(frac).padStart(9, '0')}`;
}

/** A duration for people: "812 ns", "12.345 µs", "3.456 ms", "1.002345 s". */
export function duration(ns: number): string {
  const a = Math.abs(ns);
  if (a < 1e3) return `${Math.round(ns)} ns`;
  if (a < 1e6) return `${(ns / 1e3).toFixed(3)} µs`;
  if (a < 1e9) return `${(ns / 1e6).toFixed(3)} ms`;
  return `${(ns / 1e9).toFixed(6)} s`;
}

/**
 * Quotes an argv word when a shell would need it. A word holding control characters (a newline, a
 * terminal escape: a target chooses its argv) is written as bash's $'...' with them escaped, so that
 * it prints on one line, moves no cursor, and pastes back as the same word.
 */
export function shellWord(w: string): string {
  if (/^[\w@%+=:,./-]+$/.test(w)) return w;
  if (needsEscape(w.replaceAll('\\', ''))) return `$'${printable(w).replace(/'/g, "\\'")}'`;
  return `'${w.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: readonly string[], max = 120): string {
  const s = argv.map(shellWord).join(' ');
  if (s.length <= max) return s;
  // not inside an escape: "\x1" of "\x1b" would read as another character
  const cut = s.slice(0, max - 1).replace(/\\(x[0-9a-f]?|u[0-9a-f]{0,3})?$/, '');
  return cut + '…';
}

/** Bytes for people, in powers of 1024: "0", "512", "1.5K", "12.3M", "4.00G". */
export function bytes(n: number): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P'];
  let v = n, i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? String(Math.round(v)) : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

/** A count for people: "812", "12.3k", "4.56M". */
export function count(n: number): string {
  const a = Math.abs(n);
  if (a < 1e4) return String(Math.round(n));
  if (a < 1e6) return `${(n / 1e3).toFixed(1)}k`;
  return `${(n / 1e6).toFixed(2)}M`;
}

/**
 * Upper bound of the log2 slot holding quantile q of a kernel histogram (slot i counts durations in
 * [2^i, 2^(i+1)) ns): printed as "< bound", all the histogram can tell.
 */
/**
 * Quantile q of a kernel histogram as the tables print it: "< bound" of its log2 slot, or, where that
 * bound is above the largest value observed, "≤ max" (the slot's bound is then no bound at all: a
 * max of 136 µs in the [131, 262) µs slot made a p99 "< 262.144 µs"). null without a histogram.
 */
export function quantileText(hist: number[] | null | undefined, q: number, max: number | null | undefined): string | null {
  const b = hist ? quantileBound(hist, q) : null;
  if (b === null) return null;
  return max != null && max < b ? `≤ ${duration(max)}` : `< ${duration(b)}`;
}

export function quantileBound(hist: number[], q: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i];
    if (seen >= q * total) return 2 ** (i + 1);
  }
  return 2 ** hist.length;
}
