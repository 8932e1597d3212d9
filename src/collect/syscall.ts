// syscall (-s N): per target thread, its syscalls in order (syscall_seq records, N at a time, from
// the ring), what it is doing (syscall_thread: the last N and the one in progress), and per thread
// and syscall count, errors and latency (syscall_stat), with the whole system's counts beside them.
// Kernel side: bpf/syscall.bpf.c.
import { Codec, type BpfMap, type BpfObject } from '../bpf/index.js';
import type { Clock } from './clock.js';
import type { Collector, Decoder, PollContext } from './collector.js';
import { cstring, u64 } from './decode.js';
import { readHeader } from './event.js';
import { pi_event_type, pi_sc_ctl, pi_sc_errno_key, pi_sc_key, pi_sc_slot, pi_sc_stat, pi_sc_thread, pi_syscall_seq_event } from './layout.js';
import { POLL_CHUNK, clearMap, readComm } from './maps.js';
import type { Policy } from './policy.js';
import type { ProcRecord, SyscallSeqRecord, SyscallStatRecord, SyscallThreadRecord } from './records.js';
import { errnoName, syscallName } from './syscall-names.js';

const RING = pi_sc_thread.LEN.ring / 4;
const E = pi_syscall_seq_event.OFF, T = pi_sc_thread.OFF, S = pi_sc_stat.OFF;
const SLOTS = pi_sc_stat.LEN.slots / 8;

// the maps' keys at their generated offsets; values the polls read with typed-array views stay bytes
const EXITED = [Codec.u32, Codec.bytes(pi_sc_thread.SIZE)] as const;
const STATS = [Codec.struct(pi_sc_key), Codec.bytes(pi_sc_stat.SIZE)] as const;
/** The hash maps an activation fills and its final poll empties. */
const HASHES = ['sc_exited', 'sc_stats', 'sc_errnos'];
const ERRNOS = [Codec.struct(pi_sc_errno_key), Codec.u64] as const;

/** The numbers of syscalls [first, first + len) from a ring of RING u32s at byte offset `at`. */
function fromRing(u32: Uint32Array, at: number, first: number, len: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < len; i++) out.push(u32[(at >>> 2) + ((first + i) % RING)] | 0);
  return out;
}

const u32view = (b: Buffer) => new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);

const decodeSeq: Decoder = (b, off, len, clock): SyscallSeqRecord => {
  const u = b.u32;
  const { ts_ns, pid, tgid, comm } = readHeader(b, off, clock);
  const first = u64(u, off + E.first);
  // the record holds 8, 16, 32 or 64 numbers, in order: as many as its length says, at most
  const n = Math.min(u[(off + E.len) >>> 2], Math.floor((len - E.nrs) / 4));
  const nrs = Array.from({ length: Math.max(0, n) }, (_, i) => u[((off + E.nrs) >>> 2) + i] | 0);
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

/** sc_ctl: which slots of sc_slots are taken (a thread each), and how much of sc_fast is handed out. */
function readCtl(obj: BpfObject): { taken: number[]; fast: number } {
  const v = obj.map('sc_ctl').lookup(Buffer.alloc(4))!;
  const taken: number[] = [];
  for (let w = 0; w < pi_sc_ctl.LEN.free / 8; w++) {
    const lo = ~v.readUInt32LE(pi_sc_ctl.OFF.free + w * 8), hi = ~v.readUInt32LE(pi_sc_ctl.OFF.free + w * 8 + 4);
    for (let b = 0; b < 32; b++) {
      if (lo & (1 << b)) taken.push(w * 64 + b);
      if (hi & (1 << b)) taken.push(w * 64 + 32 + b);
    }
  }
  taken.sort((a, b) => a - b);
  return { taken, fast: Math.min(v.readUInt32LE(pi_sc_ctl.OFF.fast_next), obj.map('sc_fast').info.maxEntries) };
}

/** At activation: every slot free, nothing of sc_fast handed out (its entries are zero: see clearFast). */
function resetCtl(obj: BpfObject): void {
  const v = Buffer.alloc(pi_sc_ctl.SIZE);
  v.fill(0xff, pi_sc_ctl.OFF.free, pi_sc_ctl.OFF.free + pi_sc_ctl.LEN.free);
  obj.map('sc_ctl').update(Buffer.alloc(4), v);
}

/** Zeroes the sc_fast entries an activation handed out: a new one reads a zero count as not yet filled in. */
function clearFast(obj: BpfObject, n: number): void {
  if (n <= 0) return;
  const keys = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) keys.writeUInt32LE(i, 4 * i);
  obj.map('sc_fast').updateBatch(keys, Buffer.alloc(pi_sc_stat.SIZE * n));
}

/** One thread's state (a live slot's, or an exited thread's last) into records. */
function reportThread(ctx: PollContext, v: Buffer, exited: boolean, out: ProcRecord[]): void {
  const n = ctx.policy.syscallSeqLen;
  const u = u32view(v);
  const pid = v.readUInt32LE(T.pid), tgid = v.readUInt32LE(T.tgid);
  const count = u64(u, T.count), emitted = u64(u, T.emitted);
  // a thread whose only syscall since activation has been a return (of one entered before it, or a
  // new thread's from clone) has a slot but has entered nothing: no syscall_thread for it
  if (count === 0) return;
  const comm = cstring(v, T.comm, pi_sc_thread.LEN.comm);
  if (comm) state.comms.set(pid, comm);
  if (ctx.final && count > emitted && count - emitted < RING) {
    // what has not filled a batch yet: handed over now, so that nothing entered is missing
    const nrs = fromRing(u, T.ring, emitted, count - emitted);
    out.push({ type: 'syscall_seq', ts_ns: ctx.now, pid, tgid, comm: commOf(pid, tgid), first: emitted,
      syscalls: nrs.map(syscallName), nrs, partial: true });
  }
  if (ctx.snapshot) {
    // a scrape reads every thread and changes nothing (the regular polls own the bookkeeping)
  } else if (exited) {
    // reported once more, with its last syscalls, then forgotten
    state.threadCounts.delete(pid);
  } else {
    if (state.threadCounts.get(pid) === count && !ctx.final) return;
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

function pollThreads(ctx: PollContext, taken: number[], out: ProcRecord[]): void {
  // the live threads: the slots taken, read up to the last of them
  const slots = taken.length ? ctx.obj.map('sc_slots').head(taken[taken.length - 1] + 1, POLL_CHUNK) : [];
  for (const i of taken) {
    const v = slots[i].subarray(pi_sc_slot.OFF.t, pi_sc_slot.OFF.t + pi_sc_thread.SIZE);
    // pid 0: a slot being taken right now (its pid is written last), or given back
    if (v.readUInt32LE(T.pid) !== 0) reportThread(ctx, v, false, out);
  }
  // the threads that exited: the kernel left their last state, for this one report
  const exited = ctx.obj.map('sc_exited').typed(...EXITED);
  for (const [pid, v] of exited.entries(POLL_CHUNK)) {
    reportThread(ctx, v, true, out);
    if (!ctx.snapshot) exited.delete(pid);
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

/** One (thread, syscall)'s figures, added up from its entries in sc_fast and sc_stats. */
interface Stat {
  pid: number; tgid: number; nr: number; count: number; errors: number; timed: number; total: number; max: number;
  hist: number[];
}

function addStat(all: Map<string, Stat>, v: Buffer): void {
  const u = u32view(v);
  const count = u64(u, S.count);
  if (count === 0) return; // an sc_fast entry being filled in right now
  const pid = v.readUInt32LE(S.pid), nr = v.readUInt32LE(S.nr);
  const key = `${pid}:${nr}`;
  const hist = Array.from({ length: SLOTS }, (_, i) => u64(u, S.slots + i * 8));
  const s = all.get(key);
  if (!s) {
    all.set(key, { pid, tgid: v.readUInt32LE(S.tgid), nr, count, errors: u64(u, S.errors), timed: u64(u, S.timed),
      total: u64(u, S.total_ns), max: u64(u, S.max_ns), hist });
    return;
  }
  // a thread's pid used again (by a thread of the same or another process), or a pair sc_fast could
  // not hold entirely: one row, as a hash by (pid, nr) would keep it
  s.count += count;
  s.errors += u64(u, S.errors);
  s.timed += u64(u, S.timed);
  s.total += u64(u, S.total_ns);
  s.max = Math.max(s.max, u64(u, S.max_ns));
  hist.forEach((n, i) => { s.hist[i] += n; });
}

function pollStats(ctx: PollContext, fast: number, out: ProcRecord[]): void {
  const errnos = topErrnos(ctx.obj.map('sc_errnos'));
  const all = new Map<string, Stat>();
  for (const v of ctx.obj.map('sc_fast').head(fast, POLL_CHUNK)) addStat(all, v);
  for (const [, v] of ctx.obj.map('sc_stats').typed(...STATS).entries(POLL_CHUNK)) addStat(all, v);
  for (const [key, s] of all) {
    const { pid, tgid, count, errors, timed, total } = s;
    const nr = s.nr | 0;
    if (state.statCounts.get(key) === count && !ctx.final && !ctx.snapshot) continue;
    if (!ctx.snapshot) state.statCounts.set(key, count);
    const e = errnos.get(key);
    while (s.hist.length && s.hist[s.hist.length - 1] === 0) s.hist.pop();
    const r: SyscallStatRecord = {
      type: 'syscall_stat', ts_ns: ctx.now, pid, tgid, comm: commOf(pid, tgid), scope: 'thread',
      syscall: syscallName(nr), nr, count, errors,
      errno: errors && e ? errnoName(e[0]) : null, errno_count: errors && e ? e[1] : null,
      total_ns: total, avg_ns: timed ? Math.round(total / timed) : null, max_ns: timed ? s.max : null,
      hist_log2_ns: s.hist,
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
    // a cgroup (-o: container) target's thread that moves in or out: its verdict cached per CPU is
    // stale. With lock alone these programs only keep the bits, as keytime's do.
    const uses = policy.categories.includes('syscall') || policy.categories.includes('lock');
    const members = !uses ? [] : policy.target.kind === 'cgroup' ? ['syscall_cgroup_attach']
      : policy.target.kind === 'containers' ? ['syscall_member_exec'] : [];
    return policy.categories.includes('syscall') ? ['syscall_enter', 'syscall_exit', 'syscall_task_exit', ...members] : members;
  },
  reset(obj: BpfObject, policy: Policy) {
    state = new State();
    resetSyscallHooks(obj);
    resetCtl(obj);
    // normally empty: the last activation's final poll cleared them
    for (const m of HASHES) clearMap(obj.map(m));
    // the system counts run on from load: remember where this activation starts from
    if (policy.categories.includes('syscall')) state.sysBase = readSystem(obj.map('sc_sys'));
  },
  poll(ctx: PollContext): ProcRecord[] {
    if (!ctx.policy.categories.includes('syscall')) return [];
    const out: ProcRecord[] = [];
    const { taken, fast } = readCtl(ctx.obj);
    pollThreads(ctx, taken, out);
    pollStats(ctx, fast, out);
    pollSystem(ctx, out);
    if (ctx.final) {
      for (const m of HASHES) clearMap(ctx.obj.map(m));
      clearFast(ctx.obj, fast);
    }
    return out;
  },
  observe(r: ProcRecord) {
    if (r.type === 'syscall_seq' && r.comm) state.comms.set(r.pid, r.comm);
  },
};
