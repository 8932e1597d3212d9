// Where a target takes its pthread locks: the libc (or, before glibc 2.34, the libpthread) that the
// target itself has mapped, found in /proc/PID/maps rather than at a fixed path; the file offsets of
// the lock functions in it, from its own ELF symbols; and the uprobes on them, attached with the
// target's pid so that no other process ever traps on them.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { BPF_TRACE_UPROBE_MULTI, type BpfObject, type Link, type Program } from '../bpf/index.js';
import { ElfFile } from '../sys/elf.js';
import { RUN_DIR } from '../sys/paths.js';
import { openablePath, readMaps, type Mapping } from '../sys/procmaps.js';
import { pi_lock_op } from './layout.js';

const OP = pi_lock_op;

/** Each glibc lock function and the op its probe's cookie carries; `release`: no return probe. */
export const LOCK_FUNCTIONS: ReadonlyArray<readonly [string, number, 'take' | 'release']> = [
  ['pthread_mutex_lock', OP.PI_LOCK_OP_MUTEX_LOCK, 'take'],
  ['pthread_mutex_trylock', OP.PI_LOCK_OP_MUTEX_TRYLOCK, 'take'],
  ['pthread_mutex_unlock', OP.PI_LOCK_OP_MUTEX_UNLOCK, 'release'],
  ['pthread_rwlock_rdlock', OP.PI_LOCK_OP_RW_RDLOCK, 'take'],
  ['pthread_rwlock_tryrdlock', OP.PI_LOCK_OP_RW_TRYRDLOCK, 'take'],
  ['pthread_rwlock_wrlock', OP.PI_LOCK_OP_RW_WRLOCK, 'take'],
  ['pthread_rwlock_trywrlock', OP.PI_LOCK_OP_RW_TRYWRLOCK, 'take'],
  ['pthread_rwlock_unlock', OP.PI_LOCK_OP_RW_UNLOCK, 'release'],
  ['pthread_spin_lock', OP.PI_LOCK_OP_SPIN_LOCK, 'take'],
  ['pthread_spin_trylock', OP.PI_LOCK_OP_SPIN_TRYLOCK, 'take'],
  ['pthread_spin_unlock', OP.PI_LOCK_OP_SPIN_UNLOCK, 'release'],
];

export interface Probe { offset: number; op: number }

/** Where the probes of a library go: lock_uprobe's, lock_uretprobe's, and what cannot be probed. */
export interface ProbePlan {
  /** The path as the target maps it. */
  path: string;
  /** The path procimage opens it by (through /proc/PID/root: the target's own filesystem). */
  openPath: string;
  entries: Probe[];
  returns: Probe[];
  /** Functions that are missing or cannot be probed, with why. */
  skipped: string[];
}

const LOCK_PREFIX = 0xf0;
/**
 * glibc's x86-64 pthread_spin_lock: `lock decl (%rdi); jne spin; xor %eax,%eax; ret`. x86 uprobes
 * refuse a LOCK-prefixed instruction, so the probes go on the jne (every attempt; ZF says whether
 * it took the lock) and on the xor (the acquisition).
 */
const SPIN_LOCK_SHAPE = /^f0ff0f75..31c0c3/;

/** The probes for one library, from its symbols and the first bytes of each function. */
export function planProbes(elf: ElfFile, path: string, openPath: string): ProbePlan {
  const plan: ProbePlan = { path, openPath, entries: [], returns: [], skipped: [] };
  for (const [name, op, what] of LOCK_FUNCTIONS) {
    const f = elf.function(name);
    if (!f) {
      plan.skipped.push(`${name} (not in ${path})`);
      continue;
    }
    const code = elf.bytesAt(f.fileOffset, 8);
    if (op === OP.PI_LOCK_OP_SPIN_LOCK && SPIN_LOCK_SHAPE.test(code.toString('hex'))) {
      plan.entries.push({ offset: f.fileOffset + 3, op: OP.PI_LOCK_OP_SPIN_ATTEMPT },
        { offset: f.fileOffset + 5, op: OP.PI_LOCK_OP_SPIN_ACQUIRED });
      continue;
    }
    if (code[0] === LOCK_PREFIX) {
      plan.skipped.push(`${name} (its first instruction is locked, which uprobes cannot probe)`);
      continue;
    }
    plan.entries.push({ offset: f.fileOffset, op });
    if (what === 'take') plan.returns.push({ offset: f.fileOffset, op });
  }
  return plan;
}

/** How long a process that has just exec'd may take to have ld.so map its libraries. */
const LOADER_WAIT_MS = 100;

/**
 * The process's mappings, once its libraries are there: a target started a moment ago (trace's gate,
 * just exec'd) may still be in ld.so. A dynamically linked program without any libc or libpthread
 * mapped yet is given up to LOADER_WAIT_MS; a static one is not waited for.
 */
function librariesMapped(pid: number): Mapping[] | undefined {
  const hasLib = (ms: Mapping[]) => ms.some(m => /\/lib(c|pthread)[-.][^/]*$/.test(m.path));
  let maps = readMaps(pid);
  if (!maps || hasLib(maps)) return maps;
  let dynamic = false;
  try {
    dynamic = ElfFile.open(`/proc/${pid}/exe`).dynamic;
  } catch { /* gone, or unreadable */ }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; dynamic && maps && !hasLib(maps) && waited < LOADER_WAIT_MS; waited++) {
    Atomics.wait(pause, 0, 0, 1);
    maps = readMaps(pid);
  }
  return maps;
}

/** Plans by (inode, path): libc is the same file for nearly every target. */
const plans = new Map<string, ProbePlan | null>();

/**
 * The library that implements the target's pthread locks and where its probes go: libpthread where
 * it is mapped and defines pthread_mutex_lock (glibc < 2.34: libc's copies only forward to it), else
 * libc. Undefined when the process is gone or maps neither (a static binary, another libc).
 */
export function findPthreadLibrary(pid: number): ProbePlan | undefined {
  const maps = librariesMapped(pid);
  if (!maps) return undefined;
  const files = new Map<string, Mapping>();
  for (const m of maps) {
    const name = m.path.slice(m.path.lastIndexOf('/') + 1);
    if (m.path.startsWith('/') && /^lib(c|pthread)([-.].*)?\.so/.test(name) && !files.has(m.path)) files.set(m.path, m);
  }
  const ordered = [...files.values()].sort((a, b) => Number(b.path.includes('libpthread')) - Number(a.path.includes('libpthread')));
  for (const m of ordered) {
    const key = `${m.inode}:${m.path}`;
    let plan = plans.get(key);
    if (plan === undefined) {
      const openPath = openablePath(pid, m);
      try {
        const elf = ElfFile.open(openPath);
        plan = elf.function('pthread_mutex_lock') ? planProbes(elf, m.path, openPath) : null;
      } catch {
        plan = null; // unreadable: try the next
      }
      plans.set(key, plan);
    }
    if (plan) return { ...plan, openPath: openablePath(pid, m) };
  }
  return undefined;
}

/** Plans by the file's identity (device and inode), for a path that may name another copy than before. */
const plansByFile = new Map<string, ProbePlan | null>();

/**
 * The probe plan of the library at openPath (a path procimage can open: /proc/PID/root/...), which
 * the target maps as `path`, with `file`, the file's identity (device:inode): the same path in another
 * process's root may be another file, whose offsets differ. Undefined if it is missing, unreadable
 * or has no pthread_mutex_lock.
 */
export function planForFile(openPath: string, path: string): { plan: ProbePlan; file: string } | undefined {
  let file: string;
  try {
    const st = statSync(openPath);
    file = `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
  let plan = plansByFile.get(file);
  if (plan === undefined) {
    try {
      const elf = ElfFile.open(openPath);
      plan = elf.function('pthread_mutex_lock') ? planProbes(elf, path, openPath) : null;
    } catch {
      plan = null;
    }
    plansByFile.set(file, plan);
  }
  return plan ? { plan: { ...plan, openPath }, file } : undefined;
}

/** The identity (device:inode) of the file at path, or undefined. */
export function fileId(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * The glibc libraries with pthread locks that process pid maps now, as planForFile gives them
 * (none yet while ld.so is still mapping them; no wait here).
 */
export function pthreadLibrariesMapped(pid: number, maps = readMaps(pid)): Array<{ plan: ProbePlan; file: string }> {
  const out = new Map<string, { plan: ProbePlan; file: string }>();
  for (const m of maps ?? []) {
    const name = m.path.slice(m.path.lastIndexOf('/') + 1);
    if (!m.path.startsWith('/') || !/^lib(c|pthread)([-.].*)?\.so/.test(name)) continue;
    const found = planForFile(openablePath(pid, m), m.path);
    if (found && !out.has(found.file)) out.set(found.file, found);
  }
  // glibc < 2.34: libpthread's functions are the real ones, libc's forward to them
  const all = [...out.values()];
  const pthread = all.filter(f => f.plan.path.includes('libpthread'));
  return pthread.length ? pthread : all;
}

/**
 * Attaches lock_uprobe and lock_uretprobe to the plan's offsets for process pid: one uprobe_multi
 * link each where the programs were loaded for it (multi), else a perf-event uprobe per offset.
 * The uprobe_multi links are made side by side on libuv's pool: nearly all the time either takes is
 * the kernel waiting for an RCU grace period before it registers the first uprobe (8-16 ms here), and
 * the second link waits for the same one; the event loop meanwhile attaches the other hooks.
 */
export async function attachLockUprobes(obj: BpfObject, plan: ProbePlan, pid: number, multi: boolean): Promise<Link[]> {
  const sets = ([['lock_uprobe', plan.entries, false], ['lock_uretprobe', plan.returns, true]] as Array<[string, Probe[], boolean]>)
    .filter(([, probes]) => probes.length > 0);
  if (multi) {
    const made = await Promise.allSettled(sets.map(([name, probes, retprobe]) => obj.program(name).attachUprobeMultiAsync({
      binary: plan.openPath, offsets: probes.map(p => p.offset), cookies: probes.map(p => p.op), pid, retprobe })));
    const links = made.flatMap(r => (r.status === 'fulfilled' ? [r.value] : []));
    for (const l of links) l.process = pid; // run by pid's threads alone
    const failed = made.find(r => r.status === 'rejected');
    if (failed) {
      await Promise.all(links.map(l => l.closeAsync()));
      throw failed.reason;
    }
    return links;
  }
  const links: Link[] = [];
  try {
    for (const [name, probes, retprobe] of sets) {
      const prog = obj.program(name);
      for (const p of probes) links.push(prog.attachUprobe({ binary: plan.openPath, offset: p.offset, pid, retprobe, cookie: p.op }));
    }
    for (const l of links) l.process = pid;
  } catch (e) {
    for (const l of links) l.close();
    throw e;
  }
  return links;
}

/** A file no process maps: the warm-up uprobe's, which therefore plants no breakpoint anywhere. */
const WARM_FILE = `${RUN_DIR}/uprobe-warmup`;
/**
 * How long the warm-up uprobe stays registered. A registration keeps the next one from waiting for
 * 12-16 ms here (a grace period after it is done); unregistering takes dup_mmap_sem for writing
 * once more, within that, and so keeps the warmth for as long again after it.
 */
const WARM_HOLD_MS = 10;
let warming: Promise<string | undefined> | undefined;

/**
 * Registers, and soon unregisters, one uprobe that traps nowhere (a file no process maps, only for
 * this process), on libuv's pool. Before it registers a uprobe the kernel waits for an RCU grace
 * period (rcu_sync_enter of dup_mmap_sem) unless some uprobe was registered or unregistered within
 * the last one: the activation's own links, made 10-25 ms later when a ctl connects as it starts,
 * then find that wait under way or over. Resolves, once the uprobe is gone again, with the target
 * of the link it was (undefined if none could be made).
 */
export function warmUprobes(prog: Program): Promise<string | undefined> {
  if (warming) return warming;
  try {
    mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
    if (!existsSync(WARM_FILE)) writeFileSync(WARM_FILE, '\0', { mode: 0o600 });
  } catch {
    return Promise.resolve(undefined); // an optimization only
  }
  const warm = prog.attachUprobeMultiAsync({ binary: WARM_FILE, offsets: [0], cookies: [0], pid: process.pid }).then(
    l => new Promise<string>(resolve => setTimeout(() => void l.closeAsync().then(() => resolve(l.target)), WARM_HOLD_MS).unref()),
    () => undefined);
  warming = warm.finally(() => { warming = undefined; });
  return warming;
}

/** The attach type the lock programs are loaded for when uprobe_multi links are used. */
export const UPROBE_MULTI = BPF_TRACE_UPROBE_MULTI;
