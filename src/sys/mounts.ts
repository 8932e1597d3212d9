// bpffs and tracefs are not mounted on a fresh machine; procimage mounts them when it needs them.
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { mount } from './libc.js';

export const BPFFS = '/sys/fs/bpf';
export const TRACEFS = '/sys/kernel/tracing';

interface MountEntry { target: string; fstype: string }

/** Mounts from /proc/self/mountinfo: field 5 is the mount point, the one after " - " the type. */
export function mounts(): MountEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map(line => {
    const [pre, post] = line.split(' - ');
    return { target: unescapeMount(pre.split(' ')[4]), fstype: post.split(' ')[0] };
  });
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** The fstype of the mount that holds path (longest mount-point prefix). */
export function fsTypeOf(path: string): string | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts()) {
    const under = path === m.target || path.startsWith(m.target.endsWith('/') ? m.target : m.target + '/');
    if (under && (!best || m.target.length >= best.target.length)) best = m;
  }
  return best?.fstype;
}

function ensureMounted(target: string, fstype: string): boolean {
  if (mounts().some(m => m.target === target && m.fstype === fstype)) return false;
  if (!existsSync(target)) mkdirSync(target, { recursive: true });
  mount(fstype, target, fstype);
  return true;
}

/** Mounts bpffs at /sys/fs/bpf if nothing is there; true if it mounted it. */
export const ensureBpffs = () => ensureMounted(BPFFS, 'bpf');
/** Mounts tracefs at /sys/kernel/tracing (libbpf finds tracepoint ids there); true if it mounted it. */
export const ensureTracefs = () => ensureMounted(TRACEFS, 'tracefs');
