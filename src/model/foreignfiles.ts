// Files a process maps that procimage cannot open by the path the kernel gives: the process lives in
// another mount namespace (a container, `unshare -m`, a chroot), where the path names another file
// or none on the host. They are opened through /proc/PID/root while the process lives, and kept open
// until the activation ends: its stacks are symbolized at deactivation, after it may have exited
// and its namespace gone. The unwinder (native/unwind.c) opens files by name and names frames by the
// name's last component, so each kept file gets a name that keeps it: a symlink
// RUN_DIR/files-PID/N/BASENAME -> /proc/self/fd/FD (our own fd: it opens the very file).
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { RUN_DIR } from '../sys/paths.js';

/** At most this many files kept open per activation; past it, paths are used as they are. */
const MAX_FILES = 1024;

export class ForeignFiles {
  /** By inode: the path to open (the mapping's own when the host's file at that path is it). */
  private readonly byIno = new Map<number, string>();
  private fds: number[] = [];
  private readonly dir = join(RUN_DIR, `files-${process.pid}`);

  /**
   * The path procimage opens the file of process tgid's mapping (path, inode ino) by: `path` itself
   * when it names that file here, else a kept name for it opened through the process's root.
   */
  resolve(tgid: number, path: string, ino: number): string {
    if (!path.startsWith('/') || !ino) return path;
    const known = this.byIno.get(ino);
    if (known !== undefined) return known;
    let out = path;
    try {
      if (statSync(path).ino !== ino) throw new Error('another file');
    } catch {
      out = this.keep(tgid, path, ino) ?? path;
    }
    this.byIno.set(ino, out);
    return out;
  }

  private keep(tgid: number, path: string, ino: number): string | undefined {
    if (this.fds.length >= MAX_FILES) return undefined;
    let fd: number;
    try {
      fd = openSync(`/proc/${tgid}/root${path}`, 'r');
    } catch {
      return undefined; // gone, or not a file we may read
    }
    try {
      if (fstatSync(fd).ino !== ino) throw new Error('replaced');
      if (this.fds.length === 0) this.prepare();
      const sub = join(this.dir, String(this.fds.length));
      mkdirSync(sub, { recursive: true, mode: 0o700 });
      const name = join(sub, basename(path));
      symlinkSync(`/proc/self/fd/${fd}`, name);
      this.fds.push(fd);
      return name;
    } catch {
      closeSync(fd);
      return undefined;
    }
  }

  /** Before the first name: the names a killed procimage left go, and ours go when this process ends. */
  private prepare(): void {
    try {
      for (const d of readdirSync(RUN_DIR)) {
        const pid = /^files-(\d+)$/.exec(d)?.[1];
        if (pid && !existsSync(`/proc/${pid}`)) rmSync(join(RUN_DIR, d), { recursive: true, force: true });
      }
    } catch { /* no RUN_DIR yet */ }
    if (!this.exitHook) {
      this.exitHook = true;
      process.once('exit', () => rmSync(this.dir, { recursive: true, force: true }));
    }
  }

  private exitHook = false;

  /** Closes the kept files and removes their names (the end of an activation). */
  clear(): void {
    for (const fd of this.fds) closeSync(fd);
    this.fds = [];
    this.byIno.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
