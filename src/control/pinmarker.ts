// The mark of a procimage pin directory (see pindir.ts): what makes a directory an attach's, for
// the attach that cleans one up and for ctl, which refuses to talk to a directory not marked so.
// Light on purpose: ctl uses it.
import { lstatSync, readlinkSync } from 'node:fs';

/**
 * DIR/procimage -> "procimage-attach progs/keytime_exec ... maps/pi_events ...": says "an attach made
 * this directory, and pins (or pinned) these here". A symlink, because bpffs holds nothing but
 * directories, symlinks and pinned objects; no other BPF tool makes one of this name and target, and
 * it costs no kernel object.
 */
export const MARKER = 'procimage';
export const MARKER_TARGET = 'procimage-attach';

/** The manifest of the procimage marker at path; undefined if there is none. */
export function readMarker(path: string): Set<string> | undefined {
  let target: string;
  try {
    if (!lstatSync(path).isSymbolicLink()) return undefined;
    target = readlinkSync(path);
  } catch {
    return undefined;
  }
  const [head, ...entries] = target.split(' ');
  return head === MARKER_TARGET ? new Set(entries) : undefined;
}
