// What a bpffs entry pins. Every pinned object is a "regular file" to stat(), whatever it is; only the
// kernel knows, and tells through the fd that BPF_OBJ_GET returns: its /proc/self/fdinfo names a
// prog_type, a map_type or a link_type.
import { closeSync, readFileSync } from 'node:fs';
import { bpf } from './ffi.js';

export type PinnedKind = 'prog' | 'map' | 'link';

/** The kind of BPF object pinned at path; undefined if path pins none (or is not on bpffs). */
export function pinnedKind(path: string): PinnedKind | undefined {
  const fd = bpf.obj_get(path) as number;
  if (fd < 0) return undefined;
  try {
    const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    if (/^prog_type:/m.test(info)) return 'prog';
    if (/^map_type:/m.test(info)) return 'map';
    if (/^link_type:/m.test(info)) return 'link';
    return undefined;
  } finally {
    closeSync(fd);
  }
}
