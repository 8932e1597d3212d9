// /run/procimage holds the control socket of each running attach (one per pin directory, named by a
// hash of it) and two caches every procimage shares (features.json, uprobe-warmup). An attach that
// dies without finishing (SIGKILL, a crash, the OOM killer) cannot remove its socket: the next attach
// and a ctl that finds no attach remove what such deaths left, and only that.
//
// "Its owner is gone" is asked of the kernel, not guessed from names: a socket file is stale when no
// socket is bound to its path any more (/proc/net/unix lists every bound path of this network
// namespace) and connecting to it is refused (which holds across namespaces too). A live attach's
// socket fails the first test, so it is never even connected to (a connection makes an attach
// prepare for an activation). Light on purpose: ctl uses it.
import { lstatSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { RUN_DIR } from '../sys/paths.js';

/** The paths of every bound Unix socket of this network namespace. */
function boundSocketPaths(): Set<string> {
  const paths = new Set<string>();
  try {
    // "Num RefCount Protocol Flags Type St Inode Path": the path, when there is one, is the 8th field
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 8) paths.add(f.slice(7).join(' '));
    }
  } catch { /* no procfs: the connect test alone decides */ }
  return paths;
}

/** Resolves true when connecting to path is refused (nothing listens there), false otherwise. */
function refused(path: string): Promise<boolean> {
  return new Promise(resolve => {
    const sock = connect(path);
    const timer = setTimeout(() => { sock.destroy(); resolve(false); }, 1000);
    sock.once('connect', () => { clearTimeout(timer); sock.destroy(); resolve(false); });
    sock.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(e.code === 'ECONNREFUSED'); });
  });
}

const alive = (pid: number) => {
  try {
    lstatSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
};

/**
 * Removes the control sockets whose attach is gone, and the temporary files of processes that died
 * while writing a cache (features.json.PID). Returns the names removed. Never throws: a cleanup.
 */
export async function removeStaleRunFiles(): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(RUN_DIR);
  } catch {
    return [];
  }
  const bound = boundSocketPaths();
  const removed: string[] = [];
  await Promise.all(names.map(async name => {
    const path = join(RUN_DIR, name);
    try {
      const st = lstatSync(path);
      const tmp = /^features\.json\.(\d+)$/.exec(name);
      if (tmp && st.isFile() && !alive(Number(tmp[1]))) {
        unlinkSync(path);
        removed.push(name);
        return;
      }
      if (!name.endsWith('.sock') || !st.isSocket() || bound.has(path) || !(await refused(path))) return;
      // the same file still: an attach starting meanwhile replaces a stale socket by its own (it
      // holds the pin directory's lock, so it may), and that new one must stay
      if (lstatSync(path).ino !== st.ino) return;
      unlinkSync(path);
      removed.push(name);
    } catch { /* gone meanwhile */ }
  }));
  return removed.sort();
}
