// Who holds an flock on a file, from /proc/locks: the owner of a pin directory (an attach holds an
// flock on its directory for as long as it lives; the kernel drops it however the process dies).
// Light on purpose: ctl uses it, and ctl loads no libbpf.
import { readFileSync, statSync } from 'node:fs';

/** "maj:min:ino" of path, as /proc/locks names a file (major and minor in hex there). */
export function fileKey(path: string): string {
  const { dev, ino } = statSync(path, { bigint: true });
  // the kernel's new_encode_dev: minor in bits 0-7 and 20-31, major in bits 8-19
  const major = (dev >> 8n) & 0xfffn;
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xfff00n);
  return `${major}:${minor}:${ino}`;
}

/** Every flock on the host, by file ("1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<ino> ..."). */
export function flockHolders(): Map<string, number> {
  const held = new Map<string, number>();
  for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK') continue; // "-> FLOCK" lines are waiters
    const [maj, min, ino] = f[5]?.split(':') ?? [];
    if (ino !== undefined) held.set(`${parseInt(maj, 16)}:${parseInt(min, 16)}:${ino}`, Number(f[4]));
  }
  return held;
}

/** The pid holding an flock on path. */
export function lockHolder(path: string): number | undefined {
  let key: string;
  try {
    key = fileKey(path);
  } catch {
    return undefined; // no such file (removed by hand, or not made yet): nobody holds it
  }
  return flockHolders().get(key);
}
