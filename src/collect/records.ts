// The records procimage produces: what outputs print and what `--json` writes, one object per line.
// This file is the contract docs/ndjson.md documents field by field; change both together.
//
// Every record has `type`, `ts_ns`, `pid` (thread id), `tgid` (process id) and `comm`. Instants —
// `ts_ns` and any `*_ts_ns` — are held here as ns since the session clock's epoch (see clock.ts);
// outputs print them as absolute CLOCK_MONOTONIC ns. Durations end in `_ns`, sizes in `_bytes`.

export interface RecordBase {
  type: string;
  ts_ns: number;
  pid: number;
  tgid: number;
  comm: string;
}

/** fork/clone: the record's pid/tgid/comm are the parent's. */
export interface ForkRecord extends RecordBase {
  type: 'fork';
  cpu: number;
  child_pid: number;
  child_tgid: number;
  thread: boolean; // a new thread of the same process, not a new process
  child_start_ts_ns: number;
}

export interface ExecRecord extends RecordBase {
  type: 'exec';
  cpu: number;
  filename: string;
  argv: string[];
  argv_truncated: boolean;
  old_pid: number; // the thread id before exec, when a non-leader thread exec'd
  ppid: number;
}

/** A thread's end, however it came: return, exit(), exit_group(), a signal. */
export interface ExitRecord extends RecordBase {
  type: 'exit';
  cpu: number;
  exit_code: number | null;   // 0-255 when it exited; null when a signal ended it
  signal: number | null;      // the terminating signal, or null
  signal_name: string | null; // "SIGKILL"
  core_dumped: boolean;
  process_exit: boolean;      // the last thread of its process: the process is gone
  ppid: number;
  start_ts_ns: number;        // when the thread was created
  lifetime_ns: number;        // of the thread
  process_start_ts_ns: number; // when its process was created (its first thread)
  oncpu_ns: number;           // the thread's total on-CPU time, as the kernel accounted it
}

/**
 * syscall_seq: consecutive syscalls of one thread, N at a time (-s N), in the order it entered them.
 * Concatenated by `first`, a thread's records are every syscall it entered while collection ran.
 */
export interface SyscallSeqRecord extends RecordBase {
  type: 'syscall_seq';
  first: number;      // index (0-based, counted from activation, per thread) of syscalls[0]
  syscalls: string[]; // names ("syscall_<nr>" where the kernel header names none)
  nrs: number[];      // the same, as numbers
  partial: boolean;   // fewer than N: the thread exited, or collection ended, before N accumulated
}

/**
 * syscall_stat: one syscall of one thread (scope "thread"), or of every process together (scope
 * "system", pid/tgid 0: counts only), cumulative since activation. Reported every --interval for what
 * changed, and for everything at the end.
 */
export interface SyscallStatRecord extends RecordBase {
  type: 'syscall_stat';
  scope: 'thread' | 'system';
  syscall: string;
  nr: number;
  count: number;
  errors: number | null;      // returns of -4095..-1 (thread scope)
  errno: string | null;       // the most frequent of them, "ENOENT"
  errno_count: number | null;
  total_ns: number | null;    // sys_enter -> sys_exit, summed over the calls timed
  avg_ns: number | null;
  max_ns: number | null;
}

/** syscall_thread: what a target thread is doing, every --interval: its last N syscalls and the one in progress. */
export interface SyscallThreadRecord extends RecordBase {
  type: 'syscall_thread';
  calls: number;                // syscalls entered since activation
  last: string[];               // the last N (-s N), oldest first
  in_syscall: string | null;    // the syscall it is in at ts_ns, if any
  in_syscall_ns: number | null; // for how long
}

/**
 * lock: one lock (or futex word) as one thread used it, cumulative since activation; reported every
 * --interval for what changed, and for everything at the end.
 */
export interface LockRecord extends RecordBase {
  type: 'lock';
  source: 'pthread' | 'futex' | 'kernel';
  kind: 'mutex' | 'rwlock' | 'spinlock' | 'futex' | 'rwsem' | 'percpu_rwsem' | 'rtmutex' | 'kernel';
  mode: 'read' | 'write' | null;
  addr: string;                 // "0x7ffd..." (user address for pthread/futex, kernel address for kernel)
  symbol: string | null;        // kernel locks: the kernel symbol it is, when it is one
  acquisitions: number | null;  // pthread: successful lock calls
  contended: number;            // pthread: acquisitions that found it held; futex: waits; kernel: contentions
  failed: number;               // pthread: trylock busy / lock error; futex, kernel: waits ended by an error
  wait_total_ns: number;
  wait_min_ns: number;
  wait_avg_ns: number;
  wait_max_ns: number;
  hold_count: number | null;    // pthread only, like every hold_* field
  hold_total_ns: number | null;
  hold_min_ns: number | null;
  hold_avg_ns: number | null;
  hold_max_ns: number | null;
  longest_holder_pid: number | null; // pthread: the thread (of any) that held this lock longest
  longest_hold_ns: number | null;
  ustack_addrs: string[] | null; // pthread: user stack of this thread's first contended acquisition
  ustack: string[] | null;
  kstack_addrs: string[] | null; // kernel: the waiter's kernel stack at its longest wait
  kstack: string[] | null;
}

/** Records the kernel could not hand over (or entries it could not keep), by reason; system-wide. */
export interface LostRecord extends RecordBase {
  type: 'lost';
  reason: string;
  count: number;
}

export type ProcRecord = ForkRecord | ExecRecord | ExitRecord | SyscallSeqRecord | SyscallStatRecord | SyscallThreadRecord |
  LockRecord | LostRecord;
export type RecordType = ProcRecord['type'];
