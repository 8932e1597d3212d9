// /proc/PID/maps: what a process has mapped where. Used to find a target's own libc (to put uprobes
// on the file it really runs) and to turn user addresses into file offsets for symbolization.
import { readFileSync } from 'node:fs';

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;  // "r-xp"
  offset: number; // file offset of start
  inode: number;
  path: string;   // "" for anonymous memory; "[stack]", "[vdso]"... for special ones
}

export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+([0-9a-f]+)\s+\S+\s+(\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3], offset: parseInt(m[4], 16),
      inode: Number(m[5]), path: m[6] });
  }
  return out;
}

/** The mappings of a process or thread, or undefined if it is gone. */
export function readMaps(pid: number): Mapping[] | undefined {
  try {
    return parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The mapping that holds addr, if any. */
export function mappingAt(maps: readonly Mapping[], addr: bigint): Mapping | undefined {
  let lo = 0, hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = maps[mid];
    if (addr < m.start) hi = mid - 1;
    else if (addr >= m.end) lo = mid + 1;
    else return m;
  }
  return undefined;
}

/**
 * A mapped file's path as this process can open it: through /proc/PID/root, so that a process in
 * another mount namespace (a container) is read from its own filesystem.
 */
export function openablePath(pid: number, m: Mapping): string {
  return `/proc/${pid}/root${m.path.replace(/ \(deleted\)$/, '')}`;
}
