// Signal numbers to names ("SIGKILL"), and wait(2) statuses to what they mean.
import { constants } from 'node:os';

const names = new Map<number, string>(Object.entries(constants.signals).map(([n, v]) => [v, n]));

export function signalName(sig: number): string {
  return names.get(sig) ?? `SIG${sig}`;
}

export interface ExitStatus {
  exit_code: number | null; // set when the task exited normally
  signal: number | null;    // set when a signal ended it
  core_dumped: boolean;
}

/** Decodes a wait(2) status as the kernel keeps it in task->exit_code. */
export function decodeWaitStatus(status: number): ExitStatus {
  const sig = status & 0x7f;
  if (sig === 0) return { exit_code: (status >>> 8) & 0xff, signal: null, core_dumped: false };
  return { exit_code: null, signal: sig, core_dumped: (status & 0x80) !== 0 };
}
