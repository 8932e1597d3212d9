// The pin directory of an `attach`: one bpffs directory holding every pinned program and map,
// owned by exactly one live procimage. Ownership is an flock on the directory itself, so the kernel
// drops it when the owner dies, however it dies: a SIGKILLed attach leaves pins, but never a lock,
// and the next attach recognises the pins as stale and removes them.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { UserError } from '../sys/errors.js';
import { tryLockExclusive } from '../sys/libc.js';
import { fsTypeOf } from '../sys/mounts.js';

export class PinDir {
  private constructor(readonly path: string, private fd: number) {}

  /**
   * Creates (or takes over) the directory. Fails if a live procimage holds it; removes, with a
   * warning, pins a dead one left behind.
   */
  static acquire(path: string, warn: (msg: string) => void): PinDir {
    if (!isAbsolute(path)) throw new UserError(`--pin-dir must be an absolute path, got ${path}`);
    const parent = dirname(path);
    if (fsTypeOf(parent) !== 'bpf' && fsTypeOf(path) !== 'bpf') {
      throw new UserError(`--pin-dir ${path} is not on a BPF filesystem: use a directory under /sys/fs/bpf`);
    }
    mkdirSync(path, { recursive: true, mode: 0o700 });
    const fd = openSync(path, 'r');
    if (!tryLockExclusive(fd)) {
      const holder = lockHolder(path);
      closeSync(fd);
      throw new UserError(`${path} is in use by a running procimage attach${holder ? ` (pid ${holder})` : ''}; ` +
        `stop it with: procimage ctl -f${path === '/sys/fs/bpf/procimage' ? '' : ` --pin-dir ${path}`}`);
    }
    const dir = new PinDir(path, fd);
    const left = readdirSync(path);
    if (left.length) {
      dir.clear();
      warn(`removed stale pins from ${path} (${left.join(', ')}), left by a procimage attach that did not exit cleanly`);
    }
    return dir;
  }

  /** Unpins everything under the directory (the kernel frees what nothing else holds). */
  clear(): void {
    for (const entry of readdirSync(this.path)) rmSync(join(this.path, entry), { recursive: true, force: true });
  }

  /** Unpins everything, removes the directory, drops the lock. */
  release(): void {
    if (this.fd < 0) return;
    this.clear();
    try { rmdirSync(this.path); } catch { /* someone put something else there: leave it */ }
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** The pid holding an flock on path, from /proc/locks ("1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<ino> ..."). */
export function lockHolder(path: string): number | undefined {
  const ino = statSync(path).ino;
  for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === 'FLOCK' && f[5]?.split(':')[2] === String(ino)) return Number(f[4]);
  }
  return undefined;
}
