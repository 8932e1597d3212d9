// The pin directory of an `attach`: one bpffs directory holding every pinned program and map,
// owned by exactly one live procimage. Ownership is an flock on the directory itself, so the kernel
// drops it when the owner dies, however it dies: a SIGKILLed attach leaves pins, but never a lock,
// and the next attach recognises the pins as stale and removes them.
//
// Recognises, not assumes: --pin-dir may name any directory, and bpffs is shared by every BPF tool on
// the host. procimage removes only what is recognisably its own: in a directory marked as a procimage
// pin directory (the symlink DIR/procimage, which lists what the attach pins there, made before it
// pins anything), the programs under progs/ and the maps under maps/ that the list names. Anything
// else in it, a directory inside or around another attach's, or the bpffs root itself, is refused
// before anything is touched.
import {
  closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, realpathSync, rmdirSync,
  symlinkSync, unlinkSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { pinnedKind, type PinnedKind } from '../bpf/index.js';
import { UserError } from '../sys/errors.js';
import { tryLockExclusive } from '../sys/libc.js';
import { fileKey, flockHolders, lockHolder } from '../sys/flocks.js';
import { MARKER, MARKER_TARGET, readMarker } from './pinmarker.js';
import { fsTypeOf, mounts } from '../sys/mounts.js';
import { DEFAULT_PIN_DIR } from '../sys/paths.js';

export { MARKER, MARKER_TARGET } from './pinmarker.js';
/** The subdirectories an attach pins into (Session.pin), and what each holds. */
const LAYOUT: Record<string, PinnedKind> = { progs: 'prog', maps: 'map' };

const ctlHint = (path: string) => `procimage ctl -f${path === DEFAULT_PIN_DIR ? '' : ` --pin-dir ${path}`}`;

export class PinDir {
  /** Paths pinned by this attach: release() unpins exactly these. */
  private readonly pinned: string[] = [];

  private constructor(readonly path: string, private fd: number, private readonly ownsDir: boolean,
    private readonly warn: (msg: string) => void) {}

  /**
   * Creates (or takes over) the directory. Fails if a live procimage holds it, if it is inside or
   * around one that does, or if it holds anything procimage did not pin; removes, with a warning,
   * the pins a dead attach left behind.
   */
  static acquire(given: string, warn: (msg: string) => void): PinDir {
    if (!isAbsolute(given)) throw new UserError(`--pin-dir must be an absolute path, got ${given}`);
    const path = canonical(given);
    if (fsTypeOf(path) !== 'bpf') {
      throw new UserError(`--pin-dir ${given} is not on a BPF filesystem: use a directory under /sys/fs/bpf`);
    }
    if (mounts().some(m => m.target === path)) {
      throw new UserError(`--pin-dir ${given} is the root of a BPF filesystem, shared by every BPF tool on the host: ` +
        `use a directory of its own under it, such as ${DEFAULT_PIN_DIR}`);
    }
    if (existsSync(path) && !lstatSync(path).isDirectory()) throw new UserError(`--pin-dir ${given} exists and is not a directory`);
    checkNesting(path, given);

    const created = mkdirSync(path, { recursive: true, mode: 0o700 });
    const fd = openSync(path, 'r');
    if (!tryLockExclusive(fd)) {
      const holder = lockHolder(path);
      closeSync(fd);
      throw new UserError(`${path} is in use by a running procimage attach${holder ? ` (pid ${holder})` : ''}; ` +
        `stop it with: ${ctlHint(path)}`);
    }
    try {
      const manifest = readMarker(join(path, MARKER));
      const left = readdirSync(path).filter(e => !(manifest && e === MARKER));
      const foreign = left.flatMap(e => foreignEntries(path, e, manifest));
      if (foreign.length) {
        throw new UserError(`--pin-dir ${given} holds ${describe(foreign)}, which procimage did not pin: nothing was ` +
          'removed; choose another directory');
      }
      const dir = new PinDir(path, fd, created !== undefined || manifest !== undefined, warn);
      if (left.length) {
        dir.removeStale(left);
        warn(`removed stale pins from ${path} (${left.join(', ')}), left by a procimage attach that did not exit cleanly`);
      }
      dir.mark([]);
      return dir;
    } catch (e) {
      closeSync(fd);
      if (created !== undefined) rmdirIfEmpty(path);
      throw e;
    }
  }

  /**
   * Lists in the marker the paths (under the directory) the attach is about to pin, so that if it
   * dies the next attach recognises them. Nothing but the marker is there yet: a crash half-way
   * through leaves a directory that is merely empty.
   */
  willPin(paths: string[]): void {
    this.mark(paths.map(p => relative(this.path, p)));
  }

  /** Records a pin made under the directory, so that release() removes it. */
  pinnedAt(path: string): void {
    this.pinned.push(path);
  }

  /** A symlink's target holds up to 4095 bytes: `attach -a` lists ~870 of them. */
  private mark(entries: string[]): void {
    try { unlinkSync(join(this.path, MARKER)); } catch { /* none yet */ }
    symlinkSync([MARKER_TARGET, ...entries].join(' '), join(this.path, MARKER));
  }

  /** Entries of a dead attach, already recognised as its own: unpins (the kernel frees what nothing else holds). */
  private removeStale(entries: string[]): void {
    for (const e of entries) {
      const sub = join(this.path, e);
      for (const f of readdirSync(sub)) unlinkSync(join(sub, f));
      rmdirSync(sub);
    }
  }

  /**
   * Unpins what this attach pinned, removes its layout and marker and (if it made it) the directory,
   * drops the lock. Anything someone else put there meanwhile stays, with a warning.
   */
  release(): void {
    if (this.fd < 0) return;
    for (const p of this.pinned.splice(0).reverse()) {
      try { unlinkSync(p); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    }
    for (const sub of Object.keys(LAYOUT)) rmdirIfEmpty(join(this.path, sub));
    try { unlinkSync(join(this.path, MARKER)); } catch { /* gone */ }
    if (this.ownsDir) rmdirIfEmpty(this.path);
    const left = existsSync(this.path) ? leaves(this.path) : [];
    if (left.length) {
      this.warn(`left ${describe(left)} in ${this.path}: procimage did not pin ${left.length > 1 ? 'them' : 'it'}`);
    }
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** The absolute path with ".." and symlinks resolved (as far as it exists), without a trailing slash. */
function canonical(path: string): string {
  let head = resolve(path);
  const rest: string[] = [];
  while (!existsSync(head) && dirname(head) !== head) {
    rest.unshift(basename(head));
    head = dirname(head);
  }
  return join(realpathSync(head), ...rest);
}

/**
 * Refuses a directory inside another attach's (a live one's, or one a dead attach marked: its next
 * cleanup would find a stranger there), or around a live one's (its pins would look like strays).
 */
function checkNesting(path: string, given: string): void {
  const holders = flockHolders();
  for (let up = dirname(path); fsTypeOf(up) === 'bpf'; up = dirname(up)) {
    if (existsSync(up)) {
      const pid = holders.get(fileKey(up));
      if (pid !== undefined || readMarker(join(up, MARKER))) {
        throw new UserError(`--pin-dir ${given} is inside ${up}, the pin directory of ${pid !== undefined
          ? `a running procimage attach (pid ${pid})` : 'a procimage attach'}: choose a directory outside it`);
      }
    }
    if (dirname(up) === up) break;
  }
  if (!existsSync(path)) return;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const sub = join(dir, e.name);
      const pid = holders.get(fileKey(sub));
      if (pid !== undefined) {
        throw new UserError(`--pin-dir ${given} holds ${sub}, the pin directory of a running procimage attach (pid ${pid}): ` +
          `choose another directory, or stop that attach first: ${ctlHint(sub)}`);
      }
      walk(sub);
    }
  };
  walk(path);
}

/**
 * What in entry (of dir) is not procimage's own, as paths relative to dir; [] if all of it is: what
 * the marker's manifest lists, and of the kind its place in the layout says.
 */
function foreignEntries(dir: string, entry: string, manifest: Set<string> | undefined): string[] {
  const kind = LAYOUT[entry];
  const path = join(dir, entry);
  if (!manifest || kind === undefined || !lstatSync(path).isDirectory()) return [entry];
  return readdirSync(path).map(f => `${entry}/${f}`)
    .filter(r => !manifest.has(r) || !lstatSync(join(dir, r)).isFile() || pinnedKind(join(dir, r)) !== kind);
}


/** Everything under dir that is not a directory with something in it, relative to dir. */
function leaves(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap(e => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const below = e.isDirectory() ? leaves(dir, r) : [];
    return below.length ? below : [r];
  });
}

function rmdirIfEmpty(path: string): void {
  try { rmdirSync(path); } catch { /* gone, or holds what is not ours */ }
}

const describe = (entries: string[]) =>
  entries.slice(0, 3).join(', ') + (entries.length > 3 ? ` and ${entries.length - 3} more` : '');
