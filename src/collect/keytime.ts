// keytime: fork/clone, exec and exit of the targets (bpf/keytime.bpf.c).
import type { Collector, Decoder } from './collector.js';
import { cstring, cstrings, u64 } from './decode.js';
import { readHeader } from './event.js';
import { pi_event_type, pi_exec_event, pi_exit_event, pi_fork_event } from './layout.js';
import type { Policy } from './policy.js';
import type { ExecRecord, ExitRecord, ForkRecord } from './records.js';
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

export const keytime: Collector = {
  category: 'keytime',
  object: 'keytime',
  decoders: new Map<number, Decoder>([
    [pi_event_type.PI_EV_FORK, decodeFork],
    [pi_event_type.PI_EV_EXEC, decodeExec],
    [pi_event_type.PI_EV_EXIT, decodeExit],
  ]),
  programs(policy: Policy) {
    if (policy.categories.includes('keytime')) return ['keytime_fork', 'keytime_exec', 'keytime_exit'];
    // not asked for, but a thread-group target still needs its children followed (and unfollowed)
    if (policy.target.kind === 'tgid') return ['keytime_fork', 'keytime_exit'];
    return [];
  },
};
