// lock (-l): three sources of `lock` records, per lock (or futex word) and thread.
//  - pthread: uprobes on the target's own libc (bpf/lock.bpf.c; libc-uprobes.ts finds the library):
//    acquisitions, contended ones, wait and hold times, the thread that held the lock longest, the
//    user stack of the first contended acquisition. Needs one process as target (-p or -P).
//  - futex: futex waits, timed inside the syscall object's sys_enter/sys_exit programs (one program
//    per hook: bpf/futex.bpf.h), which is why this collector requires that object.
//  - kernel: lock:contention_begin/end, with the waiter's kernel stack.
import { readFileSync } from 'node:fs';
import { BpfError, UnsupportedFeatureError, probe, supported, type BpfObject, type Link } from '../bpf/index.js';
import type { Collector, Decoder, PollContext } from './collector.js';
import { pi_event_hdr, pi_event_type, pi_lock_exec_event } from './layout.js';
import { readMaps, type Mapping } from '../sys/procmaps.js';
import { UPROBE_MULTI, attachLockUprobes, fileId, findPthreadLibrary, warmUprobes } from './libc-uprobes.js';
import { ExecFollower } from './lockfollow.js';
import { u64 } from './decode.js';
import { decodeLockEntry, decodeOwnerEntry, decodeStackTrace, entryKey, entrySignature, framePointerStack, toRecord, type LockEntry, type OwnerEntry } from './lockstat.js';
import { POLL_CHUNK, clearMap, readComm } from './maps.js';
import { isMemberTarget, type Policy } from './policy.js';
import { cgroup2Mount, containerProcesses, processesUnder } from '../sys/cgroups.js';
import { join } from 'node:path';
import type { LockOwner, ProcRecord } from './records.js';
import { resetSyscallHooks } from './syscall.js';

const KERNEL_PROGRAMS = ['lock_contention_begin', 'lock_contention_end'];
/** Futex waits without syscall: the futex syscall's own tracepoints (bpf/syscall.bpf.c). */
const FUTEX_PROGRAMS = ['futex_enter', 'futex_exit'];
/** ... or, where the kernel has no per-syscall tracepoints, the syscall category's programs. */
const SYSCALL_PROGRAMS = ['syscall_enter', 'syscall_exit'];
const UPROBE_PROGRAMS = ['lock_uprobe', 'lock_uretprobe'];
const OWN_MAPS = ['lk_calls', 'lk_holds', 'lk_stats', 'lk_kwaits', 'lk_owners', 'lk_rw_writers', 'lk_hold_stacks'];
const FUTEX_MAPS = ['futex_inflight', 'futex_waits', 'futex_wakers'];

/** Whether this kernel has lock:contention_begin/end (decided when the object is configured). */
let kernelContention = true;
/** Whether this kernel has the futex syscall's own tracepoints (decided when the object is configured). */
let futexTracepoints = true;
/** Whether the uprobe programs are loaded for uprobe_multi links (one link per program). */
let multi = false;
/** A thread-group target's children that exec: their probes (lockfollow.ts). */
let follower: ExecFollower | undefined;
/** What the last attachExtra could not do, for notes(). */
let attachNotes: string[] = [];
/** Mappings of processes read when a stack was captured in them, for the symbolizer at the next poll. */
const pendingMaps = new Map<number, Mapping[]>();
/** The processes whose pending maps a lock_stack record read: the follower's (older) do not replace them. */
const mapsFromStacks = new Set<number>();
/** Signatures reported by the last poll (see entrySignature), and thread names seen. */
let reported = new Map<string, string>();
const comms = new Map<number, string>();

function commOf(tgid: number, pid: number): string {
  let c = comms.get(pid);
  if (c === undefined) {
    c = readComm(tgid, pid) ?? '';
    if (c) comms.set(pid, c);
  }
  return c;
}

/**
 * The process whose address space the uprobes go into, or undefined for targets that have none. A
 * one-thread target's process is its thread group (a uprobe_multi link takes a process id, not a
 * thread's; the programs then keep that one thread).
 */
function targetProcess(policy: Policy): number | undefined {
  const t = policy.target;
  if (t.kind === 'tgid') return t.tgid;
  if (t.kind !== 'pid') return undefined;
  try {
    return Number(/^Tgid:\s+(\d+)/m.exec(readFileSync(`/proc/${t.pid}/status`, 'utf8'))?.[1] ?? t.pid);
  } catch {
    return t.pid;
  }
}

/**
 * Maps a followed program had once running, unless a lock_stack record's fresher ones are there. A
 * later read replaces an earlier one (the follower reads 3, 20 and 250 ms after it let the process
 * go on: ld.so maps the libraries meanwhile).
 */
function keepMaps(tgid: number, maps: Mapping[]): void {
  // none: the process has ended (its maps read empty), which must not hide what an earlier look found
  if (maps.length && !mapsFromStacks.has(tgid)) pendingMaps.set(tgid, maps);
}

/** Processes of a cgroup or container target probed at activation, at most. */
const MAX_MEMBER_PROCESSES = 256;

/**
 * A cgroup or container target: the pthread lock probes of each of its processes now (each one's own
 * libc), and, through the follower, of what they exec and start from then on. A process moved into
 * the cgroup later is not probed (its futex waits and kernel contention are collected).
 */
async function attachMembers(policy: Policy, obj: BpfObject): Promise<Link[]> {
  if (!supported('uprobe')) {
    const s = probe('uprobe');
    attachNotes.push(`lock: pthread locks need uprobes, which this kernel lacks (${'reason' in s ? s.reason : ''})`);
    return [];
  }
  const t = policy.target as Extract<Policy['target'], { kind: 'cgroup' | 'containers' }>;
  const mount = t.kind === 'cgroup' ? cgroup2Mount() : undefined;
  const all = (t.kind === 'cgroup' ? (mount ? processesUnder(join(mount, t.path)) : []) : containerProcesses())
    .filter(pid => policy.myproc || pid !== process.pid);
  const f = follower = new ExecFollower(obj, multi, keepMaps);
  let probed = 0, failed = 0;
  for (const pid of all.slice(0, MAX_MEMBER_PROCESSES)) {
    const plan = findPthreadLibrary(pid);
    if (!plan) continue;
    try {
      f.adopt(pid, plan, fileId(plan.openPath), await attachLockUprobes(obj, plan, pid, multi), true);
      probed++;
    } catch (e) {
      if (!(e instanceof BpfError) && !(e instanceof UnsupportedFeatureError)) throw e;
      failed++; // ended meanwhile, most likely
    }
  }
  if (all.length > MAX_MEMBER_PROCESSES) {
    attachNotes.push(`lock: pthread locks probed in the first ${MAX_MEMBER_PROCESSES} of ${all.length} processes`);
  }
  if (failed) attachNotes.push(`lock: ${failed} process${failed > 1 ? 'es' : ''} could not be probed (ended meanwhile?)`);
  attachNotes.push(`lock: pthread locks in ${probed} process${probed === 1 ? '' : 'es'} and what they start` +
    (t.kind === 'cgroup' ? '; a process moved in later is probed once it is in (its locks until then are missed)'
      : '; a process moved in later has futex waits and kernel contention only'));
  return [f.link];
}

/** Per pthread lock (process, address), the thread that held it longest. */
function longestHolders(entries: LockEntry[]): Map<string, { pid: number; ns: number }> {
  const out = new Map<string, { pid: number; ns: number }>();
  for (const e of entries) {
    if (e.kind.source !== 'pthread' || e.holdMax === 0) continue;
    const k = `${e.tgid}:${e.addr}`;
    const cur = out.get(k);
    if (!cur || e.holdMax > cur.ns) out.set(k, { pid: e.pid, ns: e.holdMax });
  }
  return out;
}

/**
 * Per (lock, waiter), the threads its waits were for, the most wait first, each with its stack at the
 * acquisition behind the longest wait (stackOf: by lk_hold_stacks id + 1).
 */
function ownersOf(entries: OwnerEntry[], stackOf: (o: OwnerEntry) => string[] | null): Map<string, LockOwner[]> {
  const out = new Map<string, LockOwner[]>();
  for (const o of entries) {
    const k = entryKey(o); // by lock, waiter and kind: a rwlock's read and write waits apart
    const list = out.get(k) ?? [];
    list.push({ pid: o.owner, comm: commOf(o.tgid, o.owner) || null, count: o.count, wait_ns: o.waitNs, stack: stackOf(o) });
    out.set(k, list);
  }
  for (const list of out.values()) list.sort((a, b) => b.wait_ns - a.wait_ns || a.pid - b.pid);
  return out;
}

export const lock: Collector = {
  category: 'lock',
  object: 'lock',
  requires: ['syscall'],
  decoders: new Map<number, Decoder>([[pi_event_type.PI_EV_LOCK_STACK, (b, off) => {
    // a stack was captured in this process: keep its mappings while it surely still has them
    const tgid = b.u32[(off + pi_event_hdr.OFF.tgid) >>> 2];
    const maps = readMaps(tgid);
    if (maps?.length) {
      pendingMaps.set(tgid, maps);
      mapsFromStacks.add(tgid);
    }
    return null;
  }], [pi_event_type.PI_EV_LOCK_EXEC, (b, off) => {
    // a followed process exec'd and is stopped: probe it, then let it go
    const tgid = b.u32[(off + pi_event_hdr.OFF.tgid) >>> 2];
    const startNs = u64(b.u32, off + pi_lock_exec_event.OFF.start_ns);
    if (follower) follower.exec(tgid, startNs);
    else ExecFollower.release(tgid);
    return null;
  }], [pi_event_type.PI_EV_LOCK_JOIN, (b, off) => {
    // a process moved into the target cgroup, running: probe what it has mapped (same layout)
    const tgid = b.u32[(off + pi_event_hdr.OFF.tgid) >>> 2];
    follower?.join(tgid, u64(b.u32, off + pi_lock_exec_event.OFF.start_ns));
    return null;
  }]]),

  configure(obj: BpfObject) {
    kernelContention = supported('lock_contention');
    if (!kernelContention) for (const p of KERNEL_PROGRAMS) obj.program(p).setAutoload(false);
    futexTracepoints = supported('syscall_tracepoints');
    // a perf-event uprobe takes a grace period (~0.1 s here) to detach, one after the other; a
    // uprobe_multi link detaches all its probes with one
    multi = supported('uprobe_multi');
    if (multi) for (const p of UPROBE_PROGRAMS) obj.program(p).setExpectedAttachType(UPROBE_MULTI);
    // ahead of need: the probe plan of the libc procimage itself runs, nearly always the target's
    // too (reading its symbols took ~17 ms at the first activation); once the objects are loading,
    // not before: the event loop is idle while they verify
    setImmediate(() => findPthreadLibrary(process.pid));
  },

  programs(policy: Policy) {
    if (!policy.categories.includes('lock')) return [];
    // futex waits: with syscall in the policy its programs on sys_enter/sys_exit see the futex calls
    // too; without, the futex syscall's own tracepoints cost every other syscall of every process a
    // third of what programs on sys_enter/sys_exit do (~40 ns against ~130: docs/performance.md)
    const futex = policy.categories.includes('syscall') ? [] : futexTracepoints ? FUTEX_PROGRAMS : SYSCALL_PROGRAMS;
    // syscall_task_exit: a thread that dies inside a futex wait leaves no wait in flight behind
    // lock_exec: a followed process that execs is held until its new program's probes are in
    const exec = (policy.target.kind === 'tgid' || isMemberTarget(policy.target)) && supported('uprobe') ? ['lock_exec'] : [];
    // lock_cgroup_join: a process moved into a target cgroup gets its probes too (not held)
    const join = policy.target.kind === 'cgroup' && supported('uprobe') ? ['lock_cgroup_join'] : [];
    return [...futex, 'syscall_task_exit', ...exec, ...join, ...(kernelContention ? KERNEL_PROGRAMS : [])];
  },

  extraPrograms(policy: Policy) {
    return policy.categories.includes('lock') ? UPROBE_PROGRAMS : []; // attachExtra's
  },

  prepare(obj: BpfObject) {
    return multi ? warmUprobes(obj.program('lock_uprobe')) : undefined;
  },

  async attachExtra(policy: Policy, obj: BpfObject): Promise<Link[]> {
    attachNotes = [];
    follower = undefined;
    if (!policy.categories.includes('lock')) return [];
    if (isMemberTarget(policy.target)) return attachMembers(policy, obj);
    const pid = targetProcess(policy);
    if (pid === undefined) {
      attachNotes.push('lock: pthread locks are traced in processes (-p, -P, --cgroup, -o), not on ' +
        `${policy.target.kind === 'all' ? 'every thread' : 'an idle task'}: futex waits and kernel contention only`);
      return [];
    }
    if (!supported('uprobe')) {
      const s = probe('uprobe');
      attachNotes.push(`lock: pthread locks need uprobes, which this kernel lacks (${'reason' in s ? s.reason : ''})`);
      return [];
    }
    const plan = findPthreadLibrary(pid);
    if (!plan) {
      attachNotes.push(`lock: process ${pid} maps no glibc libc or libpthread (static, or another libc): ` +
        'no pthread locks, futex waits and kernel contention only');
      return [];
    }
    try {
      const links = await attachLockUprobes(obj, plan, pid, multi);
      if (plan.skipped.length) attachNotes.push(`lock: not traced: ${plan.skipped.join(', ')}`);
      if (policy.target.kind !== 'tgid') return links;
      // the processes it starts are targets too: the follower probes each one that execs
      follower = new ExecFollower(obj, multi, keepMaps);
      follower.adopt(pid, plan, fileId(plan.openPath), links);
      return [...links, follower.link]; // the set: those the follower makes later
    } catch (e) {
      const lib = plan;
      if (!(e instanceof BpfError) && !(e instanceof UnsupportedFeatureError)) throw e;
      attachNotes.push(`lock: cannot probe ${lib.path} in process ${pid} (${e.message}): futex waits and kernel contention only`);
      return [];
    }
  },

  notes(policy: Policy) {
    const out = [...attachNotes];
    if (policy.categories.includes('lock') && !kernelContention) {
      out.push(`lock: kernel lock contention is not collected: this kernel lacks ${'lock:contention_begin/end'} ` +
        `(${(probe('lock_contention') as { reason?: string }).reason ?? 'unsupported'})`);
    }
    return out;
  },

  reset(obj: BpfObject, _policy: Policy, object: (name: string) => BpfObject) {
    reported = new Map();
    comms.clear();
    resetSyscallHooks(object('syscall'));
    for (const m of OWN_MAPS) clearMap(obj.map(m)); // normally empty: the last final poll cleared them
  },

  poll(ctx: PollContext): ProcRecord[] {
    if (!ctx.policy.categories.includes('lock')) return [];
    follower?.forgetEnded();
    for (const [tgid, maps] of pendingMaps) ctx.symbols.addMaps(tgid, maps);
    pendingMaps.clear();
    mapsFromStacks.clear();
    const sc = ctx.object('syscall');
    const entries = [...ctx.obj.map('lk_stats').entries(POLL_CHUNK), ...sc.map('futex_waits').entries(POLL_CHUNK)]
      .map(([k, v]) => decodeLockEntry(k, v));
    const longest = longestHolders(entries);
    const holdStacks = ctx.obj.map('lk_hold_stacks');
    // the owner's acquisition: its frame-pointer stack (--stack fp), else its call site alone
    const stackOf = (o: OwnerEntry): string[] | null => {
      let addrs: bigint[] = o.site ? [o.site] : [];
      if (o.stack) {
        const key = Buffer.alloc(4);
        key.writeUInt32LE(o.stack - 1);
        const v = holdStacks.lookup(key);
        if (v) addrs = decodeStackTrace(v);
      }
      if (!addrs.length) return null;
      const { frames, n } = framePointerStack(o.tgid, addrs, ctx.symbols, 1);
      return frames.slice(0, n);
    };
    const owners = ownersOf([...ctx.obj.map('lk_owners').entries(POLL_CHUNK), ...sc.map('futex_wakers').entries(POLL_CHUNK)]
      .map(([k, v]) => decodeOwnerEntry(k, v)), stackOf);
    const out: ProcRecord[] = [];
    for (const e of entries) {
      const key = entryKey(e), sig = entrySignature(e);
      if (reported.get(key) === sig && !ctx.final && !ctx.snapshot) continue;
      // a first contended stack whose acquisition has not returned yet is reported with it, next time
      if (e.acquisitions === 0 && e.contended === 0 && e.failed === 0 && e.holdCount === 0) continue;
      if (!ctx.snapshot) reported.set(key, sig); // a scrape reads everything and changes nothing
      out.push(toRecord(e, ctx.now, e.comm || commOf(e.tgid, e.pid), ctx.symbols, longest.get(`${e.tgid}:${e.addr}`),
        owners.get(entryKey(e))));
    }
    if (ctx.final) {
      // calls, holds and waits still in flight belong to this activation: none may leak into the next
      for (const m of OWN_MAPS) clearMap(ctx.obj.map(m));
      for (const m of FUTEX_MAPS) clearMap(sc.map(m));
    }
    return out;
  },
};
