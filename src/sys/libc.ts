// The few libc calls Node does not offer, and procimage's own C helpers that are not libbpf's
// (build/libprocimage.so), through koffi. With src/bpf/ffi.ts, the only two modules that touch koffi.
import koffi from 'koffi';
import { describeErrno } from './errors.js';
import { paths } from './paths.js';

const libc = koffi.load('libc.so.6');
const c = {
  flock: libc.func('int flock(int fd, int op)'),
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)'),
  syscall: libc.func('long syscall(long number, ...)'),
  close: libc.func('int close(int fd)'),
  sysconf: libc.func('long sysconf(int name)'),
  malloc_trim: libc.func('int malloc_trim(size_t pad)'),
  pthread_sigmask: libc.func('int pthread_sigmask(int how, const void *set, void *oldset)'),
  clock_gettime: libc.func('int clock_gettime(int clk, _Out_ int64_t *ts)'),
};

/** A failed system call, with its errno. */
export class SysError extends Error {
  constructor(readonly call: string, readonly errno: number) {
    super(`${call}: ${describeErrno(errno)}`);
    this.name = 'SysError';
  }
}

function check(call: string, r: number | bigint): number {
  const n = Number(r);
  if (n < 0) throw new SysError(call, koffi.errno());
  return n;
}

const LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
const EWOULDBLOCK = 11;

/** Takes an exclusive flock on fd without waiting; false if another open file holds it. */
export function tryLockExclusive(fd: number): boolean {
  const r = c.flock(fd, LOCK_EX | LOCK_NB);
  if (r === 0) return true;
  const errno = koffi.errno();
  if (errno === EWOULDBLOCK) return false;
  throw new SysError('flock', errno);
}

export function unlock(fd: number): void {
  check('flock', c.flock(fd, LOCK_UN));
}

export function mount(source: string, target: string, fstype: string): void {
  check(`mount ${fstype} on ${target}`, c.mount(source, target, fstype, 0, null));
}

const SYS_bpf = 321; // x86_64

/**
 * bpf(2) itself, for commands the libbpf this machine has (1.1) does not wrap yet. Returns the
 * syscall's result (an fd for BPF_LINK_CREATE), or throws a SysError carrying errno.
 */
export function bpfSyscall(cmd: number, attr: Buffer): number {
  return check(`bpf(${cmd})`, c.syscall(SYS_bpf, 'int', cmd, 'void *', attr, 'unsigned int', attr.length));
}

const SYS_perf_event_open = 298; // x86_64

/** perf_event_open(2); attr is a filled struct perf_event_attr. Returns the fd. */
export function perfEventOpen(attr: Buffer, pid: number, cpu: number, groupFd = -1, flags = 0): number {
  return check('perf_event_open',
    c.syscall(SYS_perf_event_open, 'void *', attr, 'int', pid, 'int', cpu, 'int', groupFd, 'unsigned long', flags));
}

export function closeFd(fd: number): void {
  c.close(fd);
}

const _SC_CLK_TCK = 2, _SC_PAGESIZE = 30;

/** Bytes of a memory page (the unit of the kernel's rss and total_vm counters). */
export function pageSize(): number {
  return check('sysconf(_SC_PAGESIZE)', c.sysconf(_SC_PAGESIZE));
}

/** USER_HZ: the tick unit of /proc/stat and /proc/PID/stat times. */
export function clockTicksPerSecond(): number {
  return check('sysconf(_SC_CLK_TCK)', c.sysconf(_SC_CLK_TCK));
}

/**
 * Hands the C heap's free memory back to the system. Loading BPF objects makes libbpf parse the
 * kernel's BTF (several MB) for each, then free it; glibc keeps freed memory for reuse, so without
 * this it stays in the process's RSS for good (~40 MB after trace -a loads).
 */
export function releaseFreeMemory(collect = true): void {
  // Buffers and typed arrays the program dropped are C heap too, freed only when V8 collects them,
  // which an idle daemon may never do: collect first (5-20 ms; `collect` false skips it where JS
  // dropped nothing large, as after loading). bin/procimage runs node with --expose-gc; elsewhere
  // (tests) this is malloc_trim alone.
  if (collect) (globalThis as { gc?: () => void }).gc?.();
  c.malloc_trim(0);
}

/** /proc/kallsyms as native/kallsyms.c indexes it: per symbol, parallel columns; names in one byte string. */
export interface KallsymsIndex {
  /** Low 32 bits of each symbol's address (all lie at 0xffffffff00000000 and up), in the file's order. */
  lo: Uint32Array;
  /** Its type letter. */
  type: Uint8Array;
  /** Where its line's text after the type ("name" or "name\t[module]") lies in names. */
  nameAt: Uint32Array;
  nameLen: Uint16Array;
  names: Uint8Array;
  /** Data symbols (d D b B r R) among them. */
  data: number;
}

let ksyms: {
  read: ReturnType<ReturnType<typeof koffi.load>['func']>; parse: ReturnType<ReturnType<typeof koffi.load>['func']>;
  free: ReturnType<ReturnType<typeof koffi.load>['func']>; layout: ReturnType<typeof koffi.struct>;
} | undefined;

function ksymsLib() {
  if (!ksyms) {
    const lib = koffi.load(paths.helperLib);
    const layout = koffi.struct('pi_ksyms', {
      err: 'uint64_t', n: 'uint64_t', names_len: 'uint64_t', data: 'uint64_t',
      lo: 'void *', type: 'void *', name_at: 'void *', name_len: 'void *', names: 'void *',
    });
    ksyms = {
      layout,
      read: lib.func('pi_ksyms *pi_ksyms_read(const char *path)'),
      parse: lib.func('pi_ksyms *pi_ksyms_parse(const uint8_t *text, size_t len)'),
      free: lib.func('void pi_ksyms_free(pi_ksyms *k)'),
    };
  }
  return ksyms;
}

const ENOMEM = 12;

/** Hands `use` the index at p (views into C memory, valid until it returns), then frees it. */
function useIndex<T>(what: string, p: unknown, use: (index: KallsymsIndex) => T): T {
  const lib = ksymsLib();
  if (p === null || p === undefined || p === 0n) throw new SysError(what, ENOMEM);
  try {
    const k = koffi.decode(p, lib.layout) as Record<string, number | bigint>;
    if (Number(k.err)) throw new SysError(what, Number(k.err));
    const n = Number(k.n), len = Number(k.names_len);
    const col = <A>(ptr: number | bigint, bytes: number, make: (b: ArrayBuffer) => A, empty: A): A =>
      bytes ? make(koffi.view(ptr as bigint, bytes)) : empty;
    return use({
      lo: col(k.lo, n * 4, b => new Uint32Array(b), new Uint32Array(0)),
      type: col(k.type, n, b => new Uint8Array(b), new Uint8Array(0)),
      nameAt: col(k.name_at, n * 4, b => new Uint32Array(b), new Uint32Array(0)),
      nameLen: col(k.name_len, n * 2, b => new Uint16Array(b), new Uint16Array(0)),
      names: col(k.names, len, b => new Uint8Array(b), new Uint8Array(0)),
      data: Number(k.data),
    });
  } finally {
    lib.free(p);
  }
}

/**
 * Reads and indexes a kallsyms file (native/kallsyms.c) on libuv's pool: /proc/kallsyms hands out a
 * page per read(2), ~1300 of them, and an index built in JS, run once and never warmed up, took
 * 30-60 ms of the main thread. `use` copies what it keeps. Rejects with a SysError.
 */
export async function indexKallsyms<T>(path: string, use: (index: KallsymsIndex) => T): Promise<T> {
  const lib = ksymsLib();
  const p = await new Promise<unknown>((resolve, reject) => {
    lib.read.async(path, (err: unknown, r: unknown) => (err ? reject(err) : resolve(r)));
  });
  return useIndex(`read ${path}`, p, use);
}

/** indexKallsyms() on this thread. */
export function indexKallsymsSync<T>(path: string, use: (index: KallsymsIndex) => T): T {
  return useIndex(`read ${path}`, ksymsLib().read(path), use);
}

/** The index of kallsyms text in memory (fixtures, tests). */
export function indexKallsymsText<T>(text: Uint8Array, use: (index: KallsymsIndex) => T): T {
  return useIndex('index kallsyms text', ksymsLib().parse(text, text.length), use);
}

const SIG_BLOCK = 0, SIG_SETMASK = 2;
const SIGSET_BYTES = 128; // glibc's sigset_t

/**
 * Runs fn with this thread's signals blocked (SIGKILL and SIGSTOP cannot be), then delivers what
 * arrived meanwhile. For kernel work that a pending signal aborts: the verifier gives up with EAGAIN
 * whenever one is pending, and libbpf retries a load only a few times — under a sampling profiler
 * (node --cpu-prof: SIGPROF every millisecond) every program longer than a tick failed to load.
 */
export function withSignalsBlocked<T>(fn: () => T): T {
  const old = Buffer.alloc(SIGSET_BYTES);
  const r = c.pthread_sigmask(SIG_BLOCK, Buffer.alloc(SIGSET_BYTES, 0xff), old) as number;
  if (r !== 0) throw new SysError('pthread_sigmask', r);
  try {
    return fn();
  } finally {
    c.pthread_sigmask(SIG_SETMASK, old, null);
  }
}

const CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1, CLOCK_BOOTTIME = 7;

function clockNs(id: number): bigint {
  const ts = [0, 0];
  check('clock_gettime', c.clock_gettime(id, ts));
  return BigInt(ts[0]) * 1_000_000_000n + BigInt(ts[1]);
}

/**
 * What to add to a CLOCK_MONOTONIC instant (every ts_ns procimage prints) to get wall-clock time
 * (CLOCK_REALTIME, ns since the Unix epoch) and CLOCK_BOOTTIME (which also counts time suspended),
 * read between two monotonic reads and taken from the closest pair of several tries: a read that a
 * preemption split is left out.
 */
export function clockOffsets(): { realtimeNs: bigint; boottimeNs: bigint } {
  let best: { gap: bigint; realtimeNs: bigint; boottimeNs: bigint } | undefined;
  for (let i = 0; i < 5; i++) {
    const m0 = clockNs(CLOCK_MONOTONIC);
    const real = clockNs(CLOCK_REALTIME);
    const boot = clockNs(CLOCK_BOOTTIME);
    const m1 = clockNs(CLOCK_MONOTONIC);
    const mid = (m0 + m1) / 2n;
    if (!best || m1 - m0 < best.gap) best = { gap: m1 - m0, realtimeNs: real - mid, boottimeNs: boot - mid };
  }
  return { realtimeNs: best!.realtimeNs, boottimeNs: best!.boottimeNs };
}
