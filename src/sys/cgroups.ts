// cgroup v2 targets: where the v2 hierarchy is mounted, a cgroup by path or by container id, its
// id and depth (what bpf/cgroup.bpf.h compares), the threads in it and below, and a thread's own.
//
// The v2 hierarchy is /sys/fs/cgroup on a unified system and /sys/fs/cgroup/unified on a hybrid one
// (systemd's, and this machine's): found in /proc/self/mountinfo, never assumed.
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { UserError } from './errors.js';

export interface CgroupTarget {
  /** The cgroup's directory, absolute (under the v2 mount). */
  dir: string;
  /** Its path in the hierarchy, as /proc/PID/cgroup writes it ("/" for the root). */
  path: string;
  /** Its id: the kernfs node id, the directory's inode number. */
  id: bigint;
  /** Its depth: the root is 0. */
  level: number;
}

/** The inode of the initial cgroup namespace (PROC_CGROUP_INIT_INO). */
export const INIT_CGROUP_NS = 0xeffffffb;

/** Where the cgroup v2 hierarchy is mounted, or undefined (a kernel or system without one). */
export function cgroup2Mount(): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.startsWith('cgroup2 ')) return pre.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

function mountOrFail(): string {
  const m = cgroup2Mount();
  if (!m) throw new UserError('no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup): --cgroup and --container need it');
  if (cgroupNamespaceOf('self') !== INIT_CGROUP_NS) {
    throw new UserError('procimage runs in a cgroup namespace of its own: cgroup targets need the initial one (its paths and depths are the kernel\'s)');
  }
  return m;
}

/**
 * --cgroup PATH: a directory of the v2 hierarchy, given absolute (under its mount, or under
 * /sys/fs/cgroup on a hybrid system, where the v2 mount is below it) or relative to the mount.
 */
export function resolveCgroup(arg: string): CgroupTarget {
  const mount = mountOrFail();
  let dir: string;
  if (isAbsolute(arg)) {
    dir = resolve(arg);
    // /sys/fs/cgroup/X on a hybrid system: X under the v2 mount
    if (relative(mount, dir).startsWith('..') && dir.startsWith('/sys/fs/cgroup/') && mount !== '/sys/fs/cgroup') {
      dir = join(mount, relative('/sys/fs/cgroup', dir));
    }
  } else {
    dir = resolve(mount, arg);
  }
  const rel = relative(mount, dir);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new UserError(`--cgroup ${arg}: not in the cgroup v2 hierarchy (${mount})`);
  let st;
  try {
    st = statSync(join(dir, 'cgroup.procs'), { bigint: true }) && statSync(dir, { bigint: true });
  } catch {
    throw new UserError(`--cgroup ${arg}: no such cgroup (${dir})`);
  }
  return { dir, path: '/' + rel, id: st.ino, level: rel === '' ? 0 : rel.split('/').length };
}

/**
 * The container ids a cgroup directory's name holds, as runtimes name them: docker-ID.scope
 * (docker, systemd driver), libpod-ID.scope (podman), cri-containerd-ID.scope and crio-ID.scope
 * (Kubernetes), machine-NAME.scope (systemd-nspawn, machinectl), NAME.scope (a systemd scope), and
 * a bare 64-hex-digit ID (docker's and containerd's cgroupfs drivers: docker/ID, kubepods/.../ID).
 */
export function containerIdOf(name: string): string | undefined {
  if (/^libpod-conmon-/.test(name)) return undefined; // podman's monitor beside the container
  const m = /^(?:docker|libpod|cri-containerd|crio|containerd|machine)-(.+)\.scope$/.exec(name);
  if (m) return m[1];
  if (/^[0-9a-f]{64}$/.test(name)) return name;
  const scope = /^(.+)\.scope$/.exec(name);
  return scope ? scope[1] : undefined;
}

/** How deep the search for a container's cgroup goes (kubepods/burstable/podUID/ID is 4). */
const CONTAINER_DEPTH = 6;

/**
 * --container ID: the cgroup of the container whose id (or name, for scopes) starts with ID, found
 * by walking the v2 hierarchy (under `root`, the mount by default). One match or an error.
 */
export function resolveContainer(id: string, root?: string): CgroupTarget {
  if (!/^[\w.@:-]+$/.test(id)) throw new UserError(`--container ${id}: not a container id or name`);
  const mount = root ?? mountOrFail();
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const sub = join(dir, e.name);
      const cid = containerIdOf(e.name);
      if (cid !== undefined && cid.startsWith(id)) found.push(sub);
      else if (depth < CONTAINER_DEPTH) walk(sub, depth + 1);
    }
  };
  walk(mount, 1);
  if (found.length === 0) throw new UserError(`--container ${id}: no container cgroup (docker-, libpod-, cri-containerd-, crio-, machine-ID.scope, or an ID directory) under ${mount}`);
  if (found.length > 1) throw new UserError(`--container ${id} is ambiguous: ${found.map(f => relative(mount, f)).join(', ')}`);
  if (root) {
    const st = statSync(found[0], { bigint: true });
    const rel = relative(mount, found[0]);
    return { dir: found[0], path: '/' + rel, id: st.ino, level: rel.split('/').length };
  }
  return resolveCgroup(found[0]);
}

/** Every thread in the cgroup at dir and the cgroups below it, now. */
export function threadsUnder(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string) => {
    try {
      for (const t of readFileSync(join(d, 'cgroup.threads'), 'utf8').split('\n')) if (t) out.push(Number(t));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch { /* removed meanwhile */ }
  };
  walk(dir);
  return out;
}

/** Every process with a thread in the cgroup at dir or below it, now (cgroup.procs, each once). */
export function processesUnder(dir: string): number[] {
  const out = new Set<number>();
  const walk = (d: string) => {
    try {
      for (const t of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (t) out.add(Number(t));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch { /* removed meanwhile */ }
  };
  walk(dir);
  return [...out];
}

/** Every process outside the initial cgroup namespace (-o), now. */
export function containerProcesses(): number[] {
  return readdirSync('/proc').filter(p => /^\d+$/.test(p)).map(Number).filter(pid => {
    const ns = cgroupNamespaceOf(pid);
    return ns !== undefined && ns !== INIT_CGROUP_NS;
  });
}

/** A thread's cgroup v2 path ("/a/b"), or undefined if it has ended. */
export function cgroupOf(tid: number | 'self'): string | undefined {
  try {
    const line = readFileSync(`/proc/${tid === 'self' ? 'self' : `${tid}`}/cgroup`, 'utf8').split('\n').find(l => l.startsWith('0::'));
    return line?.slice(3);
  } catch {
    return undefined;
  }
}

/** Whether cgroup path `p` is `under` or below it. */
export function cgroupUnder(p: string, under: string): boolean {
  return under === '/' || p === under || p.startsWith(under + '/');
}

/** The inode of a thread's cgroup namespace (INIT_CGROUP_NS for the initial one), or undefined. */
export function cgroupNamespaceOf(tid: number | 'self'): number | undefined {
  try {
    return Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${tid}/ns/cgroup`))?.[1]);
  } catch {
    return undefined;
  }
}

/** Every thread of the machine outside the initial cgroup namespace (-o), now. */
export function containerThreads(): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const ns = cgroupNamespaceOf(Number(pid));
    if (ns === undefined || ns === INIT_CGROUP_NS) continue;
    try {
      for (const t of readdirSync(`/proc/${pid}/task`)) out.push(Number(t));
    } catch { /* ended */ }
  }
  return out;
}
