// Time. The kernel stamps events with bpf_ktime_get_ns() (CLOCK_MONOTONIC), a u64 that passes 2^53
// — where a JS number stops being exact — after 104 days of uptime. Inside procimage an instant is a
// number of ns relative to the session's epoch (exact for 104 days either side of it); outputs add the
// epoch back, as a BigInt, when they print an absolute `*ts_ns`.

export class Clock {
  readonly epochNs: bigint;
  private readonly hi: number;
  private readonly lo: number;
  /** The epoch as a number when exact (uptime under 104 days), else NaN. */
  private readonly epochExact: number;

  constructor(epochNs: bigint = process.hrtime.bigint()) { // uv_hrtime: CLOCK_MONOTONIC, like the kernel
    this.epochNs = epochNs;
    this.hi = Number(epochNs >> 32n);
    this.lo = Number(epochNs & 0xffffffffn);
    this.epochExact = epochNs <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(epochNs) : NaN;
  }

  /** An absolute u64 (as its two u32 halves) to ns since the epoch. */
  fromParts(hi: number, lo: number): number {
    return (hi - this.hi) * 4294967296 + (lo - this.lo);
  }

  /** The u64 at byte offset off (8-aligned) of a batch's u32 view. */
  at(u32: Uint32Array, off: number): number {
    return this.fromParts(u32[(off >>> 2) + 1], u32[off >>> 2]);
  }

  /** ns since the epoch back to the absolute CLOCK_MONOTONIC value, exactly. */
  toAbsolute(rel: number): bigint {
    return this.epochNs + BigInt(rel);
  }

  /**
   * toAbsolute(rel) in decimal, as outputs print it: through a plain number while the sum is exact
   * (below 2^53: 104 days of uptime), which spares a BigInt per instant on the hot path.
   */
  toAbsoluteString(rel: number): string {
    const abs = this.epochExact + rel;
    return Number.isSafeInteger(abs) ? String(abs) : this.toAbsolute(rel).toString();
  }

  /** Now, in ns since the epoch. */
  now(): number {
    return Number(process.hrtime.bigint() - this.epochNs);
  }
}
