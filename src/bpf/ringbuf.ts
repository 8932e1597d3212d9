// Reads a BPF ring buffer into JS in batches without blocking the event loop.
//
// The C helper (native/drain.c) copies records into a buffer (BATCH_BYTES); it runs through koffi's .async
// on a libuv pool thread, so its epoll wait never blocks the main thread. Two buffers alternate: the
// main thread parses one while the pool thread fills the other. A full batch is followed by the next
// drain at once. When a drain comes back less than half full the ring ran dry, and the next one
// waits for the kernel's next wakeup, which comes a few ms after the first record that did not wake
// the reader, or at once for a lifecycle record (bpf/common.bpf.h, pi_submit): batches stay large,
// the reader wakes at most ~250 times a second, never because a target got the CPU, and not at all
// while nothing is written (measured 2.3-2.6 M records/s at ~12% of a core: bench/drain.ts).
import { helper, type Ptr } from './ffi.js';
import { BpfError, checkPtr } from './errors.js';
import type { BpfMap } from './map.js';

/** A filled buffer: records as [u32 len][u32 0][len bytes padded to 8], `bytes` long in all. */
export interface Batch {
  buf: Buffer;
  u32: Uint32Array;
  bytes: number;
}

export type BatchHandler = (batch: Batch) => void;

/**
 * A batch: 256 KiB, a few thousand records. The main thread parses a whole batch in one turn of the
 * event loop, and what else is due (a scrape, a ctl request, the page) waits for that turn: on a
 * machine whose CPUs are taken (every thread of a fork storm, this process a third of a CPU) 1 MiB
 * batches kept the page's /api/meta 2.5-4 s and /metrics 4-5.5 s from an answer, 256 KiB ones
 * 0.9-1.7 s and 1.5-2.1 s (docs/reliability.md); the drain's own cost per batch is tens of µs.
 */
export const BATCH_BYTES = 1 << 18;

export interface RingReaderOptions {
  batchBytes?: number; // per buffer; must hold the largest record
  waitMs?: number;     // longest a drain call waits for a wakeup
}

/**
 * Unread bytes past which the kernel wakes the reader at once (pi_wake_bytes): half a batch, so one
 * drain takes it all, and at most a quarter of the ring, so a burst cannot fill it before the reader
 * comes.
 */
export function wakeBytes(ringBytes: number, batchBytes = BATCH_BYTES): number {
  return Math.min(ringBytes / 4, batchBytes / 2);
}

/** Calls fn(offsetOfRecordData, length) for each record of a batch. */
export function forEachRecord(b: Batch, fn: (off: number, len: number) => void): void {
  const { u32, bytes } = b;
  for (let i = 0; i < bytes; ) {
    const len = u32[i >>> 2];
    fn(i + 8, len);
    i += 8 + ((len + 7) & ~7);
  }
}

export class RingReader {
  /**
   * The drainer (libbpf's ring_buffer, mapping the whole ring): made when first needed and released
   * between activations, so that a ready daemon does not map the ring — its 16 MiB of pages count in
   * the process's RSS from the mmap on, read or not.
   */
  #d: Ptr | null = null;
  private closed = false;
  /** Records too large for a batch, counted by drainers released since. */
  private oversizeBefore = 0;
  private readonly bufs: Batch[];
  private running = false;
  private inFlight = false;
  private stopWaiters: Array<() => void> = [];
  private run: object | undefined;

  constructor(private readonly ring: BpfMap, private readonly maxRecord: number, private readonly opts: RingReaderOptions = {}) {
    const batchBytes = opts.batchBytes ?? BATCH_BYTES;
    if (batchBytes < 8 + maxRecord) throw new Error(`ring batch of ${batchBytes} bytes cannot hold a ${maxRecord}-byte record`);
    this.bufs = [0, 1].map(() => {
      // not zeroed: a drain hands over only what it wrote, and untouched pages cost the ready daemon no memory
      const buf = Buffer.allocUnsafe(batchBytes);
      return { buf, u32: new Uint32Array(buf.buffer, buf.byteOffset, batchBytes >>> 2), bytes: 0 };
    });
  }

  private get d(): Ptr {
    if (this.closed) throw new Error('ring reader is closed');
    this.#d ??= checkPtr('ring_buffer__new', helper().drainer_new(this.ring.fd, this.maxRecord) as Ptr | null);
    return this.#d;
  }

  /** Records larger than a batch: they cannot be handed over and are counted here. */
  get oversize(): number {
    return this.oversizeBefore + (this.#d === null ? 0 : Number(helper().drainer_oversize(this.#d)));
  }

  /**
   * Unmaps the ring until it is read again (the ready state): what the kernel writes meanwhile stays
   * in the ring for the next drainer, which starts at the same consumer position.
   */
  release(): void {
    if (this.running || this.inFlight) throw new Error('release while draining: await stop() first');
    if (this.#d === null) return;
    this.oversizeBefore += Number(helper().drainer_oversize(this.#d));
    helper().drainer_free(this.#d);
    this.#d = null;
  }

  /**
   * Starts draining in the background; onBatch runs on the main thread for each non-empty batch. An
   * exception from onBatch goes to onError (it would otherwise escape a koffi callback); draining
   * goes on. Before each drain, `paused` may return a promise: the ring is left alone until it
   * settles (what the batches go to cannot take more yet; the kernel keeps or counts the records).
   */
  start(handler: BatchHandler, onError: (e: Error) => void, paused?: () => Promise<void> | undefined): void {
    if (this.running) return;
    this.running = true;
    const run = this.run = {}; // a pause that ends after stop() and a new start() belongs to no loop
    const onBatch = (b: Batch) => {
      try { handler(b); } catch (e) { onError(e instanceof Error ? e : new Error(String(e))); }
    };
    const waitMs = this.opts.waitMs ?? 50;
    let k = 0, dry = false;
    const issue = (): void => {
      if (!this.running) return this.settle();
      const pause = paused?.();
      if (pause) {
        void pause.then(() => { if (this.run === run) issue(); });
        return;
      }
      const b = this.bufs[k];
      k ^= 1;
      this.inFlight = true;
      helper().drain.async(this.d, b.buf, b.buf.length, waitMs, dry ? 1 : 0, (err: unknown, n: number) => {
        this.inFlight = false;
        if (err || n < 0) {
          this.running = false;
          onError(err instanceof Error ? err : new BpfError('ring buffer drain', -n));
          return this.settle();
        }
        if (!this.running) {
          if (n > 0) { b.bytes = n; onBatch(b); } // nothing drained is dropped on stop
          return this.settle();
        }
        dry = n < b.buf.length / 2;
        issue();
        if (n > 0) { b.bytes = n; onBatch(b); } // parse while the pool thread fills the other buffer
      });
    };
    issue();
  }

  private settle(): void {
    if (this.inFlight) return;
    for (const w of this.stopWaiters.splice(0)) w();
  }

  /**
   * Stops the background loop; resolves once no drain call is in flight: a drain waiting for a wakeup
   * is woken (what the ring holds then is handed over as usual).
   */
  stop(): Promise<void> {
    this.running = false;
    if (!this.inFlight) return Promise.resolve();
    helper().drainer_wake(this.d);
    return new Promise(r => this.stopWaiters.push(r));
  }

  /** The ring's size in bytes. */
  get ringBytes(): number {
    return this.ring.info.maxEntries;
  }

  /**
   * Synchronously hands over what the ring holds now (the final flush), until it is empty or, batch by
   * batch, maxBytes have been handed over; returns the bytes handed over. While programs still write
   * (hooks attached on every thread of a busy machine) the ring may fill as fast as this reads, the
   * more so as this process gets little CPU: without a bound, such a drain never ended.
   */
  drainNow(onBatch: BatchHandler, maxBytes = Infinity): number {
    if (this.running || this.inFlight) throw new Error('drainNow while the background loop runs: stop() first');
    let bytes = 0;
    const b = this.bufs[0];
    while (bytes < maxBytes) {
      const n = helper().drain(this.d, b.buf, b.buf.length, 0, 0) as number;
      if (n < 0) throw new BpfError('ring buffer drain', -n);
      if (n === 0) break;
      b.bytes = n;
      bytes += n;
      onBatch(b);
    }
    return bytes;
  }

  close(): void {
    this.release();
    this.closed = true;
  }
}
