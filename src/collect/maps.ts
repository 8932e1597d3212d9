// Small things the collectors' polls share: emptying a hash map, naming a live thread.
import { readFileSync } from 'node:fs';
import type { BpfMap } from '../bpf/index.js';

/**
 * Entries read per batched lookup in the polls: each call allocates key and value buffers this many
 * entries long, whatever the map holds; 256 keeps that garbage small (a lock entry is 264 bytes).
 */
export const POLL_CHUNK = 256;

/** Deletes every entry of a hash map (at the end of an activation), a batch of entries per syscall. */
export function clearMap(m: BpfMap): void {
  m.clear(POLL_CHUNK);
}

/** A live thread's name, or undefined when it is gone. */
export function readComm(tgid: number, pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${tgid}/task/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return undefined;
  }
}
