// Decoding the kernel's lock statistics (struct pi_lock_key -> struct pi_lock_stat, the entries of
// lk_stats and futex_waits) into `lock` records. The three sources share one layout; what each
// field means per source is in docs/ndjson.md.
import { cstring, log2Slots, u64 } from './decode.js';
import { pi_lock_key, pi_lock_kind, pi_lock_owner, pi_lock_owner_key, pi_lock_stat } from './layout.js';
import type { LockRecord } from './records.js';
import { hexAddr, type Symbolizer } from './symbols.js';

const K = pi_lock_key.OFF, S = pi_lock_stat.OFF;
const STACK_DEPTH = pi_lock_stat.LEN.stack / 8;
const SLOTS = pi_lock_stat.LEN.wait_slots / 8;

/** include/trace/events/lock.h: what a kernel contention's flags say about the lock */
const LCB_F_SPIN = 1 << 0, LCB_F_READ = 1 << 1, LCB_F_WRITE = 1 << 2, LCB_F_RT = 1 << 3, LCB_F_PERCPU = 1 << 4,
  LCB_F_MUTEX = 1 << 5;

type Kind = Pick<LockRecord, 'source' | 'kind' | 'mode'>;

export function kernelKind(flags: number): Kind {
  const mode = flags & LCB_F_WRITE ? 'write' : flags & LCB_F_READ ? 'read' : null;
  const k = (kind: LockRecord['kind'], m: LockRecord['mode'] = null): Kind => ({ source: 'kernel', kind, mode: m });
  if (flags & LCB_F_MUTEX) return k('mutex');
  if (flags & LCB_F_RT) return k('rtmutex');
  if (flags & LCB_F_PERCPU) return k('percpu_rwsem', mode);
  if (flags & LCB_F_SPIN) return mode ? k('rwlock', mode) : k('spinlock');
  if (mode) return k('rwsem', mode);
  return k('kernel');
}

export function kindOf(kind: number, flags: number): Kind {
  switch (kind) {
    case pi_lock_kind.PI_LK_MUTEX: return { source: 'pthread', kind: 'mutex', mode: null };
    case pi_lock_kind.PI_LK_RWLOCK_READ: return { source: 'pthread', kind: 'rwlock', mode: 'read' };
    case pi_lock_kind.PI_LK_RWLOCK_WRITE: return { source: 'pthread', kind: 'rwlock', mode: 'write' };
    case pi_lock_kind.PI_LK_SPIN: return { source: 'pthread', kind: 'spinlock', mode: null };
    case pi_lock_kind.PI_LK_FUTEX: return { source: 'futex', kind: 'futex', mode: null };
    default: return kernelKind(flags);
  }
}

/** One (lock, thread, kind) entry as the kernel keeps it. */
export interface LockEntry {
  addr: bigint;
  tgid: number;
  pid: number;
  kind: Kind;
  acquisitions: number;
  contended: number;
  failed: number;
  waitTotal: number;
  waitMin: number;
  waitMax: number;
  waitHist: number[];
  holdCount: number;
  holdTotal: number;
  holdMin: number;
  holdMax: number;
  comm: string;
  stack: bigint[];
}

export function decodeLockEntry(key: Buffer, value: Buffer): LockEntry {
  const u = new Uint32Array(value.buffer, value.byteOffset, value.length >>> 2);
  const n = Math.min(value.readUInt32LE(S.stack_len), STACK_DEPTH);
  const stack: bigint[] = [];
  for (let i = 0; i < n; i++) stack.push(value.readBigUInt64LE(S.stack + i * 8));
  return {
    addr: key.readBigUInt64LE(K.addr), tgid: key.readUInt32LE(K.tgid), pid: key.readUInt32LE(K.pid),
    kind: kindOf(key.readUInt32LE(K.kind), key.readUInt32LE(K.flags)),
    acquisitions: u64(u, S.acquisitions), contended: u64(u, S.contended), failed: u64(u, S.failed),
    waitTotal: u64(u, S.wait_total_ns), waitMin: u64(u, S.wait_min_ns), waitMax: u64(u, S.wait_max_ns), waitHist: log2Slots(u, S.wait_slots, SLOTS),
    holdCount: u64(u, S.hold_count), holdTotal: u64(u, S.hold_total_ns), holdMin: u64(u, S.hold_min_ns),
    holdMax: u64(u, S.hold_max_ns), comm: cstring(value, S.comm, pi_lock_stat.LEN.comm), stack,
  };
}

/** The waits of one waiter on one lock that one other thread caused (lk_owners, futex_wakers). */
export interface OwnerEntry {
  addr: bigint; tgid: number; pid: number; owner: number; kind: Kind; count: number; waitNs: number;
  /** lk_hold_stacks id + 1 of the owner's stack at the acquisition behind the longest wait (--stack fp); 0: none */
  stack: number;
  /** that acquisition's call site; 0n: none */
  site: bigint;
}

const OK = pi_lock_owner_key.OFF, OV = pi_lock_owner.OFF;

export function decodeOwnerEntry(key: Buffer, value: Buffer): OwnerEntry {
  const u = new Uint32Array(value.buffer, value.byteOffset, value.length >>> 2);
  return {
    addr: key.readBigUInt64LE(OK.addr), tgid: key.readUInt32LE(OK.tgid), pid: key.readUInt32LE(OK.pid),
    owner: key.readUInt32LE(OK.owner), kind: kindOf(key.readUInt32LE(OK.kind), 0),
    count: u64(u, OV.count), waitNs: u64(u, OV.wait_ns), stack: value.readUInt32LE(OV.stack),
    site: value.readBigUInt64LE(OV.site),
  };
}

/** A stack-trace map's value: the frames up to the first zero. */
export function decodeStackTrace(value: Buffer): bigint[] {
  const out: bigint[] = [];
  for (let off = 0; off + 8 <= value.length; off += 8) {
    const a = value.readBigUInt64LE(off);
    if (a === 0n) break;
    out.push(a);
  }
  return out;
}

/** A key that tells (lock, thread, kind) entries apart across polls; an owner entry's, its lock record's. */
export const entryKey = (e: Pick<LockEntry, 'kind' | 'tgid' | 'pid' | 'addr'>) => `${e.kind.source}:${e.kind.kind}:${e.kind.mode}:${e.tgid}:${e.pid}:${e.addr}`;

/** What changes when an entry is used again: a poll reports entries whose signature moved. */
export const entrySignature = (e: LockEntry) => `${e.acquisitions}:${e.contended}:${e.failed}:${e.holdCount}`;

/**
 * Frames of the tracing machinery above the lock's own code in a kernel stack taken at the
 * tracepoint (the BPF program's caller chain): dropped so the stack starts where the waiter waits.
 */
const TRACING_FRAME = /^(bpf_|__bpf_|__traceiter_|trace_|perf_)/;

/**
 * The user stack of a pthread entry, symbolized, and cut at the first frame past the caller that
 * lies outside any mapped file: beyond [function, caller] the frames come from a frame-pointer walk,
 * which code built without frame pointers (gcc -O2, glibc) feeds garbage.
 */
function userStack(e: LockEntry, sym: Symbolizer): Pick<LockRecord, 'ustack' | 'ustack_addrs' | 'ustack_locs'> {
  if (e.kind.source !== 'pthread' || e.stack.length === 0) return { ustack_addrs: null, ustack: null, ustack_locs: null };
  const { frames, locs, n } = framePointerStack(e.tgid, e.stack, sym, 2);
  return { ustack_addrs: e.stack.slice(0, n).map(hexAddr), ustack: frames.slice(0, n), ustack_locs: locs.slice(0, n) };
}

/**
 * A user stack from a frame-pointer walk, symbolized, with n: the frames to keep, cut at the first
 * one from index `sure` on that lies outside any mapped file (frames before it are read for sure).
 */
export function framePointerStack(tgid: number, addrs: bigint[], sym: Symbolizer, sure: number): { frames: string[]; locs: string[]; n: number } {
  const { frames, locs } = sym.userStack(tgid, addrs);
  let n = frames.length;
  for (let i = sure; i < locs.length; i++) {
    if (locs[i].startsWith('0x')) { n = i; break; } // no file there: a runtime address
  }
  return { frames, locs, n };
}

export function toRecord(e: LockEntry, ts: number, comm: string, sym: Symbolizer,
  longest?: { pid: number; ns: number }, owners?: LockRecord['owners']): LockRecord {
  const pthread = e.kind.source === 'pthread', kernel = e.kind.source === 'kernel';
  const waits = pthread ? e.acquisitions : e.contended;
  const holds = e.holdCount;
  let kstack: string[] | null = null, kstackAddrs: bigint[] | null = null;
  if (kernel && e.stack.length) {
    const names = sym.kernelStack(e.stack);
    let skip = 0;
    while (skip < names.length - 1 && TRACING_FRAME.test(names[skip])) skip++;
    kstack = names.slice(skip);
    kstackAddrs = e.stack.slice(skip);
  }
  return {
    type: 'lock', ts_ns: ts, pid: e.pid, tgid: e.tgid, comm, ...e.kind,
    addr: hexAddr(e.addr), symbol: kernel ? sym.kernelData(e.addr) : null,
    acquisitions: pthread ? e.acquisitions : null, contended: e.contended, failed: e.failed,
    wait_total_ns: e.waitTotal, wait_min_ns: e.waitMin, wait_avg_ns: waits ? Math.round(e.waitTotal / waits) : 0,
    wait_max_ns: e.waitMax, wait_hist_log2_ns: e.waitHist,
    hold_count: pthread ? holds : null, hold_total_ns: pthread ? e.holdTotal : null, hold_min_ns: pthread ? e.holdMin : null,
    hold_avg_ns: pthread ? (holds ? Math.round(e.holdTotal / holds) : 0) : null, hold_max_ns: pthread ? e.holdMax : null,
    longest_holder_pid: pthread ? longest?.pid ?? null : null, longest_hold_ns: pthread ? longest?.ns ?? null : null,
    ...userStack(e, sym),
    kstack_addrs: kstackAddrs?.map(hexAddr) ?? null, kstack,
    owners: kernel ? null : owners ?? [],
  };
}
