// What this kernel can do, asked of the kernel itself and cached for the life of the process.
// Three outcomes, after cilium/ebpf's features package: supported, unsupported (the kernel said no),
// inconclusive (the probe itself could not run, e.g. the probe object is missing).
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { bpf } from './ffi.js';
import { BpfError, UnsupportedFeatureError } from './errors.js';
import { BpfObject } from './object.js';
import { BPF_TRACE_UPROBE_MULTI } from './program.js';
import { RUN_DIR, paths } from '../sys/paths.js';
import { TRACEFS, ensureTracefs } from '../sys/mounts.js';
import { VERSION } from '../sys/version.js';

export type Support =
  | { status: 'supported' }
  | { status: 'unsupported'; reason: string }
  | { status: 'inconclusive'; reason: string };

/** What each feature is, in words a user reads in an error. */
export const FEATURES = {
  btf: 'kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)',
  ringbuf: 'BPF ring buffers',
  task_storage: 'BPF task storage',
  bpf_loop: 'the bpf_loop helper',
  iter_task: 'BPF task iterators (iter/task)',
  tp_btf: 'BTF tracepoints (tp_btf)',
  raw_tp: 'raw tracepoints',
  tracepoint: 'tracepoints',
  fentry: 'fentry/fexit programs',
  kprobe: 'kprobes (CONFIG_KPROBES)',
  uprobe: 'uprobes (CONFIG_UPROBE_EVENTS)',
  lock_contention: 'the lock:contention_begin/end tracepoints (Linux 6.0+)',
  uprobe_multi: 'uprobe_multi links (Linux 6.6+)',
  syscall_tracepoints: 'the per-syscall tracepoints syscalls:sys_enter_*/sys_exit_* (CONFIG_FTRACE_SYSCALLS)',
} as const;
export type Feature = keyof typeof FEATURES;

const cache = new Map<Feature, Support>();

const BPF_MAP_TYPE_RINGBUF = 27, BPF_MAP_TYPE_TASK_STORAGE = 29;
const BPF_PROG_TYPE_RAW_TRACEPOINT = 17, BPF_FUNC_loop = 181;

const EBADF = 9;

const yes: Support = { status: 'supported' };
const no = (reason: string): Support => ({ status: 'unsupported', reason });
const unsure = (reason: string): Support => ({ status: 'inconclusive', reason });

/** libbpf_probe_* return 1 yes, 0 no, < 0 could not tell. */
function fromLibbpfProbe(r: number, what: string): Support {
  return r === 1 ? yes : r === 0 ? no(`the kernel refused ${what}`) : unsure(`probing ${what}: error ${-r}`);
}

/** Loads (and for hooks the verifier cannot judge, attaches) one program of the probe object. */
function probeProgram(program: string, attach: boolean): Support {
  const path = paths.bpfObject('probes');
  if (!existsSync(path)) return unsure(`${path} is missing (run make)`);
  let obj: BpfObject | undefined;
  try {
    obj = BpfObject.open(path);
    for (const p of obj.programs()) p.setAutoload(p.name === program);
    obj.load();
    if (attach) obj.program(program).attach().close();
    return yes;
  } catch (e) {
    if (e instanceof BpfError) return no(e.message);
    return unsure((e as Error).message);
  } finally {
    obj?.close();
  }
}

const probes: Record<Feature, () => Support> = {
  btf: () => existsSync('/sys/kernel/btf/vmlinux') ? yes : no('/sys/kernel/btf/vmlinux does not exist'),
  ringbuf: () => fromLibbpfProbe(bpf.probe_map_type(BPF_MAP_TYPE_RINGBUF, null) as number, 'ring buffer maps'),
  task_storage: () => fromLibbpfProbe(bpf.probe_map_type(BPF_MAP_TYPE_TASK_STORAGE, null) as number, 'task storage maps'),
  iter_task: () => probeProgram('probe_iter_task', true),
  bpf_loop: () => fromLibbpfProbe(bpf.probe_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop, null) as number, 'bpf_loop'),
  tp_btf: () => probeProgram('probe_tp_btf', false),
  raw_tp: () => probeProgram('probe_raw_tp', false),
  tracepoint: () => { ensureTracefs(); return probeProgram('probe_tracepoint', true); },
  fentry: () => probeProgram('probe_fentry', true),
  kprobe: () => probeProgram('probe_kprobe', true),
  uprobe: () => existsSync('/sys/bus/event_source/devices/uprobe/type') ? yes : no('no uprobe PMU in /sys/bus/event_source/devices'),
  lock_contention: () => probeProgram('probe_lock_contention', false),
  uprobe_multi: probeUprobeMulti,
  syscall_tracepoints: () => {
    ensureTracefs();
    return existsSync(`${TRACEFS}/events/syscalls/sys_enter_futex/id`) ? yes : no(`no ${TRACEFS}/events/syscalls/sys_enter_futex`);
  },
};

/**
 * After libbpf's own probe: a program loaded for BPF_TRACE_UPROBE_MULTI and a link on "/" — a kernel
 * that knows the attach type refuses the directory with EBADF; one that does not, otherwise.
 */
function probeUprobeMulti(): Support {
  const path = paths.bpfObject('probes');
  if (!existsSync(path)) return unsure(`${path} is missing (run make)`);
  let obj: BpfObject | undefined;
  try {
    obj = BpfObject.open(path);
    for (const p of obj.programs()) p.setAutoload(p.name === 'probe_uprobe');
    const prog = obj.program('probe_uprobe');
    prog.setExpectedAttachType(BPF_TRACE_UPROBE_MULTI);
    obj.load();
    prog.attachUprobeMulti({ binary: '/', offsets: [0], cookies: [0], pid: 0 }).close();
    return unsure('a uprobe_multi link on "/" was accepted');
  } catch (e) {
    if (e instanceof BpfError) return e.errno === EBADF ? yes : no(e.message);
    return unsure((e as Error).message);
  } finally {
    obj?.close();
  }
}

/**
 * What earlier processes of this boot found supported, in a root-only file on tmpfs: a probe loads a
 * program (10-20 ms of parsing the kernel's BTF and verifying), and what a kernel supports does not
 * change until it reboots. Only "supported" is kept (a refusal may have been a passing condition),
 * and only under the same boot, kernel, procimage, probe object (tests swap it for one that fails)
 * and build of this module (its probes may change).
 */
const SUPPORTED_FILE = `${RUN_DIR}/features.json`;
let known: { key: string; supported: Set<string> } | undefined;

function knownSupported(): { key: string; supported: Set<string> } {
  if (known) return known;
  let key = '';
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const obj = statSync(paths.bpfObject('probes')), code = statSync(fileURLToPath(import.meta.url));
    key = `${boot} ${release()} ${VERSION} ${obj.ino}:${obj.size}:${obj.mtimeMs} ${code.ino}:${code.mtimeMs}`;
    const saved = JSON.parse(readFileSync(SUPPORTED_FILE, 'utf8')) as { key?: string; supported?: string[] };
    if (saved.key === key && Array.isArray(saved.supported)) return known = { key, supported: new Set(saved.supported) };
  } catch { /* none saved yet, or nothing to key it by: probe */ }
  return known = { key, supported: new Set() };
}

function rememberSupported(f: Feature): void {
  const k = knownSupported();
  if (!k.key || k.supported.has(f)) return;
  k.supported.add(f);
  try {
    mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
    const tmp = `${SUPPORTED_FILE}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ key: k.key, supported: [...k.supported] }), { mode: 0o600 });
    renameSync(tmp, SUPPORTED_FILE); // whole, whatever other processes write meanwhile
  } catch { /* only a shortcut for the next process */ }
}

/** Asks once per boot what the kernel supports, once per process what it does not; later calls return the answer. */
export function probe(f: Feature): Support {
  let s = cache.get(f);
  if (!s) {
    if (knownSupported().supported.has(f)) {
      s = yes;
    } else {
      s = probes[f]();
      if (s.status === 'supported') rememberSupported(f);
    }
    cache.set(f, s);
  }
  return s;
}

export function supported(f: Feature): boolean {
  return probe(f).status === 'supported';
}

/** Throws UnsupportedFeatureError naming the feature unless the kernel has it. */
export function requireFeature(f: Feature, neededFor?: string): void {
  const s = probe(f);
  if (s.status === 'supported') return;
  throw new UnsupportedFeatureError(FEATURES[f], 95,
    `${neededFor ? `needed for ${neededFor}; ` : ''}${s.reason}`);
}
