// What `ctl` and a running `attach` say to each other: one JSON request per connection on a Unix
// socket, one JSON response line back, then the attach closes the connection (the answer to finish:
// when its process exits). The socket lives in a root-only directory.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Policy } from '../collect/policy.js';
import { RUN_DIR } from '../sys/paths.js';

export type Request =
  /**
   * policy.categories may be empty: every category the attach loaded. issuedNs: CLOCK_MONOTONIC.
   * record: an absolute path the attach records the activation to (ctl -a --record FILE).
   */
  | { op: 'activate'; policy: Policy; issuedNs: string; record?: string }
  | { op: 'deactivate' }
  | { op: 'finish' }
  | { op: 'status' };

export type Response = { ok: true; [key: string]: unknown } | { ok: false; error: string };

/** The control socket of the attach that owns pinDir. */
export function socketPath(pinDir: string): string {
  const id = createHash('sha256').update(resolve(pinDir)).digest('hex').slice(0, 16);
  return `${RUN_DIR}/${id}.sock`;
}
