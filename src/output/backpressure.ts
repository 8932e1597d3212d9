// A slow reader of procimage's output (a pipe into a consumer starved of CPU, a paused pager) must not
// make procimage hold the records it has not taken yet: under a fork storm `attach --json | cat`
// reached 572 MB of RSS that way. Past OUTPUT_BACKLOG bytes not yet taken, the session stops draining
// the ring until the reader catches up; the kernel counts what does not fit in the ring as lost.
// Files and terminals take writes synchronously: they never back up. 1 MiB is 16 pipe buffers; a
// 4 MiB backlog measured 40 MB more RSS in the same storm (each resumption writes whole batches).
import type { Writable } from 'node:stream';

/** Bytes of output held for a slow reader before the ring is no longer drained. */
export const OUTPUT_BACKLOG = 1 << 20;

/** Undefined while out keeps up; else a promise settled once it has taken all it holds (or closed). */
export function whenCaughtUp(out: Writable, limit = OUTPUT_BACKLOG): Promise<void> | undefined {
  // 'drain' only follows a write that reached the stream's high-water mark: never wait below it
  if (out.writableLength <= Math.max(limit, out.writableHighWaterMark) || out.destroyed) return undefined;
  return new Promise(resolve => {
    const done = () => {
      for (const e of ['drain', 'close', 'error']) out.off(e, done);
      resolve();
    };
    for (const e of ['drain', 'close', 'error']) out.on(e, done);
  });
}
