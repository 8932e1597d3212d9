// syscall (-s N): per target thread, its syscalls in order (syscall_seq records, N at a time, from
// the ring), what it is doing (syscall_thread: the last N and the one in progress), and per thread
// and syscall count, errors and latency (syscall_stat), with the whole system's counts beside them.
// Kernel side: bpf/syscall.bpf.c.
import { Codec, type BpfMap, type BpfObject } from '../bpf/index.js';
import type { Clock } from './clock.js';
import type { Collector, Decoder, PollContext } from './collector.js';
import { cstring, log2Slots, u64 } from './decode.js';
import { readHeader } from './event.js';
import { pi_event_type, pi_sc_errno_key, pi_sc_key, pi_sc_stat, pi_sc_thread, pi_syscall_seq_event } from './layout.js';
import { POLL_CHUNK, clearMap, readComm } from './maps.js';
import type { Policy } from './policy.js';
import type { ProcRecord, SyscallSeqRecord, SyscallStatRecord, SyscallThreadRecord } from './records.js';
import { errnoName, syscallName } from './syscall-names.js';

const RING = pi_syscall_seq_event.LEN.ring / 4;
const E = pi_syscall_seq_event.OFF, T = pi_sc_thread.OFF, S = pi_sc_stat.OFF;
const SLOTS = pi_sc_stat.LEN.slots / 8;

// the maps' keys at their generated offsets; values the polls read with typed-array views stay bytes
const THREADS = [Codec.u32, Codec.bytes(pi_sc_thread.SIZE)] as const;
const STATS = [Codec.struct(pi_sc_key), Codec.bytes(pi_sc_stat.SIZE)] as const;
const ERRNOS = [Codec.struct(pi_sc_errno_key), Codec.u64] as const;

/** The numbers of syscalls [first, first + len) from a ring of RING u32s at byte offset `at`. */
function fromRing(u32: Uint32Array, at: number, first: number, len: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < len; i++) out.push(u32[(at >>> 2) + ((first + i) % RING)] | 0);
  return out;
}

const u32view = (b: Buffer) => new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);

const decodeSeq: Decoder = (b, off, _len, clock): SyscallSeqRecord => {
  const u = b.u32;
  const { ts_ns, pid, tgid, comm } = readHeader(b, off, clock);
  const first = u64(u, off + E.first);
  const nrs = fromRing(u, off + E.ring, first, Math.min(u[(off + E.len) >>> 2], RING));
  return { type: 'syscall_seq', ts_ns, pid, tgid, comm, first, syscalls: nrs.map(syscallName), nrs,
    partial: u[(off + E.partial) >>> 2] !== 0 };
};

/** What the last poll reported, so that each poll reports only what changed. */
class State {
  readonly threadCounts = new Map<number, number>();
  readonly statCounts = new Map<string, number>();
  sysBase: number[] = [];
  sysReported: number[] = [];
  /** Thread names, from the kernel's thread map and the records that went by: a thread may be gone. */
  readonly comms = new Map<number, string>();
}

let state = new State();

function commOf(pid: number, tgid: number): string {
  let c = state.comms.get(pid);
  if (c === undefined) {
    c = readComm(tgid, pid) ?? '';
    if (c) state.comms.set(pid, c);
  }
  return c;
}

/** Per-slot totals of the per-CPU system counts (index PI_SC_NR_MAX: every number past the table). */
function readSystem(m: BpfMap): number[] {
  const out: number[] = [];
  for (const [slot, perCpu] of m.typed(Codec.u32, Codec.perCpu(Codec.u64)).entries(POLL_CHUNK)) {
    out[slot] = perCpu.reduce((s, n) => s + Number(n), 0);
  }
  return out;
}

function pollThreads(ctx: PollContext, out: ProcRecord[]): void {
  const n = ctx.policy.syscallSeqLen;
  const threads = ctx.obj.map('sc_threads').typed(...THREADS);
  for (const [pid, v] of threads.entries(POLL_CHUNK)) {
    const u = u32view(v);
    const tgid = v.readUInt32LE(T.tgid);
    const count = u64(u, T.count), emitted = u64(u, T.emitted);
    const comm = cstring(v, T.comm, pi_sc_thread.LEN.comm);
    if (comm) state.comms.set(pid, comm);
    if (ctx.final && count > emitted && count - emitted < RING) {
      // what has not filled a batch yet: handed over now, so that nothing entered is missing
      const nrs = fromRing(u, T.ring, emitted, count - emitted);
      out.push({ type: 'syscall_seq', ts_ns: ctx.now, pid, tgid, comm: commOf(pid, tgid), first: emitted,
        syscalls: nrs.map(syscallName), nrs, partial: true });
    }
    const exited = v.readUInt32LE(T.exited) !== 0;
    if (ctx.snapshot) {
      // a scrape reads every thread and changes nothing (the regular polls own the bookkeeping)
    } else if (exited) {
      // reported once more, with its last syscalls, then forgotten (the kernel only marks it)
      threads.delete(pid);
      state.threadCounts.delete(pid);
    } else {
      if (state.threadCounts.get(pid) === count && !ctx.final) continue;
      state.threadCounts.set(pid, count);
    }
    const last = fromRing(u, T.ring, Math.max(0, count - Math.min(n, RING)), Math.min(count, n, RING));
    const enter = u64(u, T.enter_ns);
    const r: SyscallThreadRecord = {
      type: 'syscall_thread', ts_ns: ctx.now, pid, tgid, comm: commOf(pid, tgid), calls: count,
      last: last.map(syscallName),
      in_syscall: enter ? syscallName(v.readUInt32LE(T.nr)) : null,
      in_syscall_ns: enter ? Math.max(0, ctx.now - clockAt(ctx.clock, v, T.enter_ns)) : null,
    };
    out.push(r);
  }
}

const clockAt = (clock: Clock, b: Buffer, off: number) => clock.fromParts(b.readUInt32LE(off + 4), b.readUInt32LE(off));

/** The most frequent errno of each (pid, nr), from sc_errnos. */
function topErrnos(m: BpfMap): Map<string, [number, number]> {
  const top = new Map<string, [number, number]>();
  for (const [k, v] of m.typed(...ERRNOS).entries(POLL_CHUNK)) {
    const key = `${k.pid}:${k.nr}`, err = k.err;
    const n = Number(v);
    const t = top.get(key);
    if (!t || n > t[1] || (n === t[1] && err < t[0])) top.set(key, [err, n]);
  }
  return top;
}

function pollStats(ctx: PollContext, out: ProcRecord[]): void {
  const errnos = topErrnos(ctx.obj.map('sc_errnos'));
  for (const [k, v] of ctx.obj.map('sc_stats').typed(...STATS).entries(POLL_CHUNK)) {
    const pid = k.pid, nr = k.nr | 0;
    const key = `${pid}:${nr >>> 0}`;
    const u = u32view(v);
    const count = u64(u, S.count);
    if (state.statCounts.get(key) === count && !ctx.final && !ctx.snapshot) continue;
    if (!ctx.snapshot) state.statCounts.set(key, count);
    const tgid = v.readUInt32LE(S.tgid), timed = u64(u, S.timed), total = u64(u, S.total_ns);
    const errors = u64(u, S.errors);
    const e = errnos.get(key);
    const r: SyscallStatRecord = {
      type: 'syscall_stat', ts_ns: ctx.now, pid, tgid, comm: commOf(pid, tgid), scope: 'thread',
      syscall: syscallName(nr), nr, count, errors,
      errno: errors && e ? errnoName(e[0]) : null, errno_count: errors && e ? e[1] : null,
      total_ns: total, avg_ns: timed ? Math.round(total / timed) : null, max_ns: timed ? u64(u, S.max_ns) : null,
      hist_log2_ns: log2Slots(u, S.slots, SLOTS),
    };
    out.push(r);
  }
}

function pollSystem(ctx: PollContext, out: ProcRecord[]): void {
  const now = readSystem(ctx.obj.map('sc_sys'));
  now.forEach((n, slot) => {
    const count = n - (state.sysBase[slot] ?? 0);
    if (count <= 0 || (state.sysReported[slot] === count && !ctx.final && !ctx.snapshot)) return;
    if (!ctx.snapshot) state.sysReported[slot] = count;
    const past = slot === now.length - 1; // the slot of numbers past the table
    out.push({
      type: 'syscall_stat', ts_ns: ctx.now, pid: 0, tgid: 0, comm: '', scope: 'system',
      syscall: past ? 'syscall_out_of_range' : syscallName(slot), nr: past ? -1 : slot, count,
      errors: null, errno: null, errno_count: null, total_ns: null, avg_ns: null, max_ns: null, hist_log2_ns: null,
    });
  });
}

/**
 * Before syscall_enter/exit are attached, for whichever category attaches them: no target verdict
 * the per-CPU caches hold (bpf/syscall.bpf.c, target_cache) may outlive the policy it was made for.
 */
export function resetSyscallHooks(obj: BpfObject): void {
  const m = obj.map('sc_tcache');
  m.update(Buffer.alloc(4), Buffer.alloc(m.valueBytes));
}

export const syscall: Collector = {
  category: 'syscall',
  object: 'syscall',
  decoders: new Map<number, Decoder>([[pi_event_type.PI_EV_SYSCALL_SEQ, decodeSeq]]),
  programs(policy: Policy) {
    return policy.categories.includes('syscall') ? ['syscall_enter', 'syscall_exit', 'syscall_task_exit'] : [];
  },
  reset(obj: BpfObject, policy: Policy) {
    state = new State();
    resetSyscallHooks(obj);
    // normally empty: the last activation's final poll cleared them
    for (const m of ['sc_threads', 'sc_stats', 'sc_errnos']) clearMap(obj.map(m));
    // the system counts run on from load: remember where this activation starts from
    if (policy.categories.includes('syscall')) state.sysBase = readSystem(obj.map('sc_sys'));
  },
  poll(ctx: PollContext): ProcRecord[] {
    if (!ctx.policy.categories.includes('syscall')) return [];
    const out: ProcRecord[] = [];
    pollThreads(ctx, out);
    pollStats(ctx, out);
    pollSystem(ctx, out);
    if (ctx.final) for (const m of ['sc_threads', 'sc_stats', 'sc_errnos']) clearMap(ctx.obj.map(m));
    return out;
  },
  observe(r: ProcRecord) {
    if (r.type === 'syscall_seq' && r.comm) state.comms.set(r.pid, r.comm);
  },
};
