// keytime: fork/clone, exec and exit of the targets (bpf/keytime.bpf.c).
import type { Batch } from '../bpf/index.js';
import type { Clock } from './clock.js';
import type { Collector, Decoder } from './collector.js';
import { big64, cstring, cstrings, u64 } from './decode.js';
import { readHeader } from './event.js';
import { clearMap } from './maps.js';
import {
  pi_event_type, pi_exec_event, pi_exit_event, pi_fork_event, pi_switch_in_event, pi_switch_out_dwarf_event,
  pi_switch_out_event, pi_stack_mode, pi_task_now, pi_ustack_stop, pi_waker_event, pi_waker_dwarf_event, pi_waker_flags, pi_migrate_event,
} from './layout.js';
import type { Policy } from './policy.js';
import type { ExecRecord, ExitRecord, ForkRecord, MigrateRecord, SwitchIn, SwitchOut, WakerRaw } from './records.js';
import { decodeWaitStatus, signalName } from './signals.js';

const F = pi_fork_event.OFF, E = pi_exec_event.OFF, X = pi_exit_event.OFF;

const decodeFork: Decoder = (b, off, _len, clock): ForkRecord => {
  const u = b.u32;
  const child_pid = u[(off + F.child_pid) >>> 2], child_tgid = u[(off + F.child_tgid) >>> 2];
  const h = readHeader(b, off, clock);
  return {
    type: 'fork', ...h, child_pid, child_tgid, thread: child_tgid === h.tgid,
    child_start_ts_ns: clock.at(u, off + F.child_start_ns),
  };
};

const decodeExec: Decoder = (b, off, _len, clock): ExecRecord => {
  const u = b.u32;
  const argsLen = Math.min(u[(off + E.args_len) >>> 2], pi_exec_event.LEN.args);
  return {
    type: 'exec', ...readHeader(b, off, clock),
    filename: cstring(b.buf, off + E.filename, pi_exec_event.LEN.filename),
    argv: cstrings(b.buf, off + E.args, argsLen),
    argv_truncated: u[(off + E.args_truncated) >>> 2] !== 0,
    old_pid: u[(off + E.old_pid) >>> 2],
    ppid: u[(off + E.ppid) >>> 2],
  };
};

const decodeExit: Decoder = (b, off, _len, clock): ExitRecord => {
  const u = b.u32;
  const h = readHeader(b, off, clock);
  const st = decodeWaitStatus(u[(off + X.exit_code) >>> 2]);
  const start = clock.at(u, off + X.start_ns);
  return {
    type: 'exit', ...h, ...st,
    signal_name: st.signal === null ? null : signalName(st.signal),
    process_exit: u[(off + X.group_dead) >>> 2] !== 0,
    ppid: u[(off + X.ppid) >>> 2],
    start_ts_ns: start,
    lifetime_ns: h.ts_ns - start,
    process_start_ts_ns: clock.at(u, off + X.process_start_ns),
    oncpu_ns: u64(u, off + X.oncpu_ns),
  };
};

const O = pi_switch_out_event.OFF, I = pi_switch_in_event.OFF;

/**
 * What a switch-out can hold of a user stack: the bytes of stack a DWARF capture copies
 * (PI_STACK_PAGES pages from the one holding sp), and the frames `bpf_get_stack` fills in fp mode.
 */
export const STACK_COPY_BYTES = pi_switch_out_dwarf_event.LEN.stack;
export const FP_FRAMES = pi_switch_out_event.LEN.ustack / 8;

/** How the text outputs mark a user stack cut short by those limits. */
export function truncationNote(mode: 'dwarf' | 'fp' | 'none'): string {
  return mode === 'fp' ? `[truncated: ${FP_FRAMES} frames]` : `[truncated: stack copy ${STACK_COPY_BYTES / 1024} KiB]`;
}
const MODES = { [pi_stack_mode.PI_STACK_NONE]: 'none', [pi_stack_mode.PI_STACK_FP]: 'fp', [pi_stack_mode.PI_STACK_DWARF]: 'dwarf' } as const;

/** A kernel instant that is 0 when unknown. */
function instant(u: Uint32Array, off: number, clock: Clock): number | null {
  return u[off >>> 2] === 0 && u[(off >>> 2) + 1] === 0 ? null : clock.at(u, off);
}

/**
 * `bytes` of u64s in the batch, as a view where they are 8-aligned (always, in the ring reader's
 * batches): valid only while the batch is dispatched, as the records that carry it (RawRecord).
 * A copy would cost an ArrayBuffer — a C allocation V8 tracks — per stack, per switch-out.
 */
function u64s(b: Batch, off: number, bytes: number): BigUint64Array {
  const n = Math.max(0, Math.min(bytes, 512)) >>> 3;
  const at = b.buf.byteOffset + off;
  return at % 8 === 0 ? new BigUint64Array(b.buf.buffer, at, n) : new BigUint64Array(b.buf.buffer.slice(at, at + n * 8));
}

const decodeSwitchOut: Decoder = (b, off, _len, clock): SwitchOut => {
  const u = b.u32;
  const mode = MODES[u[(off + O.stack_mode) >>> 2] as 0 | 1 | 2] ?? 'none';
  const r: SwitchOut = {
    type: 'switch_out', ...readHeader(b, off, clock),
    oncpu_start_ts_ns: instant(u, off + O.oncpu_start_ns, clock),
    oncpu_start_inferred: u[(off + O.oncpu_start_inferred) >>> 2] !== 0,
    state: u[(off + O.state) >>> 2],
    preempt: u[(off + O.preempt) >>> 2] !== 0,
    kstack: u64s(b, off + O.kstack, u[(off + O.kstack_bytes) >>> 2]),
    stack_mode: mode,
    exe_ino: u64(u, off + O.exe_ino),
    ustack: u64s(b, off + O.ustack, u[(off + O.ustack_bytes) >>> 2]),
    ustack_more: u[(off + O.ustack_stop) >>> 2] === pi_ustack_stop.PI_USTACK_MAX_FRAMES,
    sig: big64(u, off + O.sig),
  };
  if (u[(off + O.hdr) >>> 2] === pi_event_type.PI_EV_SWITCH_OUT_DWARF && mode === 'dwarf') {
    const bytes = Math.min(u[(off + O.stack_bytes) >>> 2], pi_switch_out_dwarf_event.LEN.stack);
    const stack = off + pi_switch_out_dwarf_event.OFF.stack;
    r.dwarf = {
      regs: u64s(b, off + O.ip, 64),
      base: big64(u, off + O.stack_base),
      stack: b.buf.subarray(stack, stack + bytes),
    };
  }
  return r;
};

const decodeSwitchIn: Decoder = (b, off, _len, clock): SwitchIn => {
  const u = b.u32;
  return {
    type: 'switch_in', ...readHeader(b, off, clock),
    offcpu_start_ts_ns: instant(u, off + I.offcpu_start_ns, clock),
    state: u[(off + I.state) >>> 2],
    preempt: u[(off + I.preempt) >>> 2] !== 0,
    first_run: u[(off + I.first_run) >>> 2] !== 0,
    inferred: u[(off + I.inferred) >>> 2] !== 0,
    out_sent: u[(off + I.out_sent) >>> 2] !== 0,
    out_cpu: u[(off + I.out_cpu) >>> 2],
    sig: big64(u, off + I.sig),
    oncpu_start_ts_ns: instant(u, off + I.oncpu_start_ns, clock),
    oncpu_start_inferred: u[(off + I.oncpu_start_inferred) >>> 2] !== 0,
    wake_ts_ns: instant(u, off + I.wake_ns, clock),
    waker_pid: u[(off + I.waker_pid) >>> 2],
    waker_tgid: u[(off + I.waker_tgid) >>> 2],
    waker_flags: u[(off + I.waker_flags) >>> 2],
  };
};

/** Where a thread keytime followed stands at deactivation (keytime_tasks; struct pi_task_now). */
export interface TaskNow {
  pid: number; tgid: number; gen: number; comm: string;
  cpu: number; // off the CPU: the one it left; running: its CPU
  on_ns: number | null; off_ns: number | null;
  state: number; preempt: boolean; out_sent: boolean; sig: bigint;
}

const N = pi_task_now.OFF;

export function decodeTasksNow(buf: Buffer, clock: Clock): TaskNow[] {
  const out: TaskNow[] = [];
  const aligned = Buffer.from(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length)); // 4-aligned for the u32 view
  const u = new Uint32Array(aligned.buffer, aligned.byteOffset, Math.floor(aligned.length / 4));
  for (let off = 0; off + pi_task_now.SIZE <= aligned.length; off += pi_task_now.SIZE) {
    out.push({
      pid: u[(off + N.pid) >>> 2], tgid: u[(off + N.tgid) >>> 2], gen: u[(off + N.gen) >>> 2],
      comm: cstring(aligned, off + N.comm, pi_task_now.LEN.comm), cpu: u[(off + N.off_cpu) >>> 2],
      on_ns: instant(u, off + N.on_ns, clock), off_ns: instant(u, off + N.off_ns, clock),
      state: u[(off + N.off_state) >>> 2], preempt: u[(off + N.off_preempt) >>> 2] !== 0,
      out_sent: u[(off + N.out_sent) >>> 2] !== 0, sig: big64(u, off + N.off_sig),
    });
  }
  return out;
}

const W = pi_waker_event.OFF;

const decodeWaker: Decoder = (b, off, len, clock): WakerRaw => {
  const u = b.u32;
  const flags = u[(off + W.flags) >>> 2];
  // the frames: the kernel's, then the user's, as far as the record (sized to them) goes
  const room = Math.max(0, len - W.frames);
  const kBytes = Math.min(u[(off + W.kstack_bytes) >>> 2], room, pi_waker_event.LEN.frames / 2) & ~7;
  const uBytes = Math.min(u[(off + W.ustack_bytes) >>> 2], room - kBytes, pi_waker_event.LEN.frames / 2) & ~7;
  return {
    type: 'waker', ...readHeader(b, off, clock),
    wakee_pid: u[(off + W.wakee_pid) >>> 2],
    wakee_tgid: u[(off + W.wakee_tgid) >>> 2],
    kthread: (flags & pi_waker_flags.PI_WAKER_KTHREAD) !== 0,
    target: (flags & pi_waker_flags.PI_WAKER_TARGET) !== 0,
    kstack: u64s(b, off + W.frames, kBytes),
    stack_mode: MODES[u[(off + W.stack_mode) >>> 2] as 0 | 1 | 2] ?? 'none',
    exe_ino: u64(u, off + W.exe_ino),
    ustack: u64s(b, off + W.frames + kBytes, uBytes),
    ustack_more: u[(off + W.ustack_stop) >>> 2] === pi_ustack_stop.PI_USTACK_MAX_FRAMES,
  };
};

const WD = pi_waker_dwarf_event.OFF;

/** A waker whose user stack was copied for user space to unwind (its process had no tables yet). */
const decodeWakerDwarf: Decoder = (b, off, len, clock): WakerRaw => {
  const u = b.u32;
  const r = decodeWaker(b, off, len, clock) as WakerRaw;
  const bytes = Math.min(u[(off + WD.stack_bytes) >>> 2], pi_waker_dwarf_event.LEN.stack);
  const stack = off + WD.stack;
  r.stack_mode = 'dwarf';
  r.dwarf = {
    regs: u64s(b, off + WD.ip, 64),
    base: big64(u, off + WD.stack_base),
    stack: b.buf.subarray(stack, stack + bytes),
  };
  return r;
};

const M = pi_migrate_event.OFF;

const decodeMigrate: Decoder = (b, off, _len, clock): MigrateRecord => ({
  type: 'migrate', ...readHeader(b, off, clock),
  from_cpu: b.u32[(off + M.from_cpu) >>> 2],
  to_cpu: b.u32[(off + M.to_cpu) >>> 2],
});

/**
 * PROCIMAGE_WAKERS=0 leaves the waker and migration hooks detached (bench/wakers.ts measures what
 * they cost against keytime without them); offcpu records then have no waker, and no migrate record comes.
 */
const WAKERS = process.env.PROCIMAGE_WAKERS !== '0';

export const keytime: Collector = {
  category: 'keytime',
  object: 'keytime',
  // the iterator read at deactivation (where each thread stands): loaded, attached only to be read
  extraPrograms(policy: Policy) {
    return policy.categories.includes('keytime') ? ['keytime_tasks'] : [];
  },
  reset(obj) {
    // a new activation: its processes send their stacks anew, and count from zero
    keytime.tidy!(obj);
  },
  tidy(obj) {
    // the last aggregates were read by the final poll: 28,000 entries were left held in the ready
    // state after 20,000 threads (bench/load.ts, LOAD_THREADS)
    clearMap(obj.map('offcpu_agg'));
    clearMap(obj.map('stacks_seen'));
    clearMap(obj.map('unwind_memos'));
  },
  decoders: new Map<number, Decoder>([
    [pi_event_type.PI_EV_FORK, decodeFork],
    [pi_event_type.PI_EV_EXEC, decodeExec],
    [pi_event_type.PI_EV_EXIT, decodeExit],
    [pi_event_type.PI_EV_SWITCH_OUT, decodeSwitchOut],
    [pi_event_type.PI_EV_SWITCH_OUT_DWARF, decodeSwitchOut],
    [pi_event_type.PI_EV_SWITCH_IN, decodeSwitchIn],
    [pi_event_type.PI_EV_WAKER, decodeWaker],
    [pi_event_type.PI_EV_WAKER_DWARF, decodeWakerDwarf],
    [pi_event_type.PI_EV_MIGRATE, decodeMigrate],
  ]),
  programs(policy: Policy) {
    // a cgroup target's threads are kept where they come (fork) and move (cgroup_attach_task); -o's
    // where they enter a container's cgroup namespace, which a runtime does before the exec
    const members = policy.target.kind === 'cgroup' ? ['keytime_fork', 'keytime_cgroup_attach']
      : policy.target.kind === 'containers' ? ['keytime_fork', 'keytime_member_exec'] : [];
    if (policy.categories.includes('keytime')) {
      return [...new Set(['keytime_fork', 'keytime_exec', 'keytime_exit', 'keytime_switch',
        ...(WAKERS ? ['keytime_waking', 'keytime_migrate'] : []), ...members])];
    }
    // not asked for, but a thread-group target still needs its children followed; a dead one's bit
    // goes at its final switch where keytime_switch runs, else when its pid is recycled (at fork)
    if (policy.target.kind === 'tgid') return ['keytime_fork'];
    return members;
  },
};
