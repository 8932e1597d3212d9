// Small readers for records in a drain batch (little-endian, 8-aligned): plain u64 fields and C strings.

/** A u64 that is not a timestamp (durations, counts): exact below 2^53, ~1e-16 relative error above. */
export function u64(u32: Uint32Array, off: number): number {
  return u32[(off >>> 2) + 1] * 4294967296 + u32[off >>> 2];
}

/** A u64 as a bigint, all 64 bits (a hash, an address). */
export function big64(u32: Uint32Array, off: number): bigint {
  return BigInt(u32[off >>> 2]) | (BigInt(u32[(off >>> 2) + 1]) << 32n);
}

/** A NUL-terminated string in a fixed-size char array. */
export function cstring(buf: Buffer, off: number, max: number): string {
  let end = buf.indexOf(0, off);
  if (end < 0 || end > off + max) end = off + max;
  return buf.toString('utf8', off, end);
}

/** NUL-separated strings (argv as the kernel lays it out), `len` bytes long. */
export function cstrings(buf: Buffer, off: number, len: number): string[] {
  if (len <= 0) return [];
  const s = buf.toString('utf8', off, off + len);
  const parts = s.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/**
 * A kernel log2 histogram (PI_LOG2_SLOTS u64 slots at off: slot i counts [2^i, 2^(i+1)) ns), with
 * its trailing empty slots cut.
 */
export function log2Slots(u32: Uint32Array, off: number, slots: number): number[] {
  const hist = Array.from({ length: slots }, (_, i) => u64(u32, off + i * 8));
  while (hist.length && hist[hist.length - 1] === 0) hist.pop();
  return hist;
}
