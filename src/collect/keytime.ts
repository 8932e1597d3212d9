// keytime: fork/clone, exec and exit of the targets (bpf/keytime.bpf.c).
import type { Batch } from '../bpf/index.js';
import type { Clock } from './clock.js';
import type { Collector, Decoder } from './collector.js';
import { cstring, cstrings, u64 } from './decode.js';
import { readHeader } from './event.js';
import {
  pi_event_type, pi_exec_event, pi_exit_event, pi_fork_event, pi_switch_in_event, pi_switch_out_dwarf_event,
  pi_switch_out_event, pi_stack_mode, pi_ustack_stop,
} from './layout.js';
import type { Policy } from './policy.js';
import type { ExecRecord, ExitRecord, ForkRecord, SwitchIn, SwitchOut } from './records.js';
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
  };
  if (u[(off + O.hdr) >>> 2] === pi_event_type.PI_EV_SWITCH_OUT_DWARF && mode === 'dwarf') {
    const bytes = Math.min(u[(off + O.stack_bytes) >>> 2], pi_switch_out_dwarf_event.LEN.stack);
    const stack = off + pi_switch_out_dwarf_event.OFF.stack;
    r.dwarf = {
      regs: u64s(b, off + O.ip, 64),
      base: BigInt(u[(off + O.stack_base) >>> 2]) | (BigInt(u[(off + O.stack_base + 4) >>> 2]) << 32n),
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
  };
};

export const keytime: Collector = {
  category: 'keytime',
  object: 'keytime',
  decoders: new Map<number, Decoder>([
    [pi_event_type.PI_EV_FORK, decodeFork],
    [pi_event_type.PI_EV_EXEC, decodeExec],
    [pi_event_type.PI_EV_EXIT, decodeExit],
    [pi_event_type.PI_EV_SWITCH_OUT, decodeSwitchOut],
    [pi_event_type.PI_EV_SWITCH_OUT_DWARF, decodeSwitchOut],
    [pi_event_type.PI_EV_SWITCH_IN, decodeSwitchIn],
  ]),
  programs(policy: Policy) {
    // a cgroup target's threads are kept where they come (fork) and move (cgroup_attach_task); -o's
    // where they enter a container's cgroup namespace, which a runtime does before the exec
    const members = policy.target.kind === 'cgroup' ? ['keytime_fork', 'keytime_cgroup_attach']
      : policy.target.kind === 'containers' ? ['keytime_fork', 'keytime_member_exec'] : [];
    if (policy.categories.includes('keytime')) return [...new Set(['keytime_fork', 'keytime_exec', 'keytime_exit', 'keytime_switch', ...members])];
    // not asked for, but a thread-group target still needs its children followed; a dead one's bit
    // goes at its final switch where keytime_switch runs, else when its pid is recycled (at fork)
    if (policy.target.kind === 'tgid') return ['keytime_fork'];
    return members;
  },
};
