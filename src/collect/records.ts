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
  /** With a cgroup or container target: the thread's cgroup v2 path (added by the session). */
  cgroup?: string | null;
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
 * A thread's time on a CPU, from switch-in to switch-out (`-k 1` only). switch_in_inferred: no
 * switch-in was traced (it was already running at activation, or the kernel reported none) and the
 * start is the scheduler's own stamp; start_ts_ns null if even that was not usable. end_ts_ns is
 * null when it still runs at deactivation (`ongoing`).
 */
export interface OnCpuRecord extends RecordBase {
  type: 'oncpu';
  cpu: number;
  start_ts_ns: number | null;
  end_ts_ns: number | null;
  duration_ns: number | null;
  began_before_activation: boolean;
  ongoing: boolean;
  switch_in_inferred: boolean;
}

/**
 * A thread's time off the CPU, from switch-out to switch-in, with the state it left in and the
 * kernel and user stacks at that moment: why it left. start/end null as for oncpu;
 * switch_in_inferred: its end is the scheduler's own stamp (the kernel reported no switch-in).
 */
export interface OffCpuRecord extends RecordBase {
  type: 'offcpu';
  cpu: number;         // the CPU it left
  cpu_in: number | null; // the CPU it came back on
  start_ts_ns: number | null;
  end_ts_ns: number | null;
  duration_ns: number | null;
  state: string;       // as ps shows it: R (preempted, still runnable), S, D, T, t, I, P, X; ? unknown
  state_name: string;  // "preempted", "sleeping", "disk wait" (uninterruptible), ...
  kstack: readonly string[]; // innermost first
  ustack: readonly string[]; // "fn+0xoff (module) file:line", "module+0xfileoff", "0x7f..." (frames.ts parses them)
  /** Parallel to ustack: "<module_id>+0x<file offset>" (a `module` record before names the file), or "0x7f...". */
  ustack_locs: readonly string[];
  ustack_mode: 'dwarf' | 'fp' | 'none';
  /** The user stack goes on beyond what was captured (a DWARF copy's end, or fp's 64 frames). */
  ustack_truncated: boolean;
  began_before_activation: boolean;
  ongoing: boolean;
  switch_in_inferred: boolean;
}

/** Scheduling delay of one target thread, or of the whole system (scope), since activation. */
export interface SchedRecord extends RecordBase {
  type: 'sched';
  scope: 'thread' | 'cgroup' | 'system';  // cgroup: every target thread of one cgroup, with a cgroup target
  cpu: number | null;  // the CPU of an idle task (pid 0), else null
  count: number;
  total_ns: number;
  avg_ns: number | null;
  min_ns: number | null;
  max_ns: number | null;
  hist_log2_ns: number[]; // [i]: delays in [2^i, 2^(i+1)) ns (slot 0 also holds 0 ns); trailing zeros cut
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
  hist_log2_ns: number[] | null; // latency of the calls timed, as sched's hist_log2_ns (thread scope)
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
  wait_hist_log2_ns: number[];  // the waits one by one, as sched's hist_log2_ns
  hold_count: number | null;    // pthread only, like every hold_* field
  hold_total_ns: number | null;
  hold_min_ns: number | null;
  hold_avg_ns: number | null;
  hold_max_ns: number | null;
  longest_holder_pid: number | null; // pthread: the thread (of any) that held this lock longest
  longest_hold_ns: number | null;
  ustack_addrs: string[] | null; // pthread: user stack of this thread's first contended acquisition
  ustack: string[] | null;
  ustack_locs: string[] | null;  // parallel to ustack, as offcpu's
  kstack_addrs: string[] | null; // kernel: the waiter's kernel stack at its longest wait
  kstack: string[] | null;
}

/**
 * A file user stacks went through, for tools that symbolize later (pprof, Pyroscope): written once
 * per activation, before the first record whose `ustack_locs` names it. pid/tgid/comm/ts_ns are
 * that record's. module_id is never reused within one procimage process.
 */
export interface ModuleRecord extends RecordBase {
  type: 'module';
  module_id: number;
  path: string;            // as the process mapped it: "/usr/lib/x86_64-linux-gnu/libc.so.6", "[vdso]"
  build_id: string | null; // the GNU build ID note, lowercase hex
}

/** Records the kernel could not hand over (or entries it could not keep), by reason; system-wide. */
export interface LostRecord extends RecordBase {
  type: 'lost';
  reason: string;
  count: number;
}

/**
 * resource, per thread or per process, every --interval (docs/ndjson.md has every field's source).
 * Interval figures cover [ts_ns - interval_ns, ts_ns]; `total_*` are since the task (or process)
 * started. Memory is null where there is none to report: kernel threads, and exits (the kernel has
 * released it by then).
 */
export interface ResourceRecord extends RecordBase {
  type: 'resource';
  scope: 'thread' | 'process';
  start_ts_ns: number;          // when the thread (or the process's first thread) was created
  exited: boolean;              // the task's last figures, taken at its exit
  interval_ns: number;
  threads: number | null;       // process: threads alive at the sample; thread: null
  top: string[] | null;         // every-process mode: the rankings it is in the top N of; else null
  cpu_pct: number;              // of one CPU, over the interval
  user_pct: number;
  system_pct: number;
  cpu_ns: number;
  user_ns: number;
  system_ns: number;
  rss_bytes: number | null;     // resident: anon + file + shmem
  rss_anon_bytes: number | null;
  rss_file_bytes: number | null;
  rss_shmem_bytes: number | null;
  swap_bytes: number | null;
  vm_bytes: number | null;      // virtual size
  rss_peak_bytes: number | null;
  read_bytes: number;           // storage, over the interval
  write_bytes: number;
  cancelled_write_bytes: number;
  io_read_bytes: number;        // every read(2)-like call: storage, page cache, pipes, sockets
  io_write_bytes: number;
  read_syscalls: number;
  write_syscalls: number;
  minor_faults: number;
  major_faults: number;
  voluntary_switches: number;
  involuntary_switches: number;
  total_cpu_ns: number;
  total_user_ns: number;
  total_system_ns: number;
  total_read_bytes: number;
  total_write_bytes: number;
  total_cancelled_write_bytes: number;
  total_io_read_bytes: number;
  total_io_write_bytes: number;
  total_read_syscalls: number;
  total_write_syscalls: number;
  total_minor_faults: number;
  total_major_faults: number;
  total_voluntary_switches: number;
  total_involuntary_switches: number;
}

/** resource for the whole system, beside the targets' (from /proc: stat, meminfo, vmstat, diskstats). */
export interface ResourceSystemRecord extends RecordBase {
  type: 'resource';
  scope: 'system';
  interval_ns: number;
  cpus: number;                 // online CPUs: cpu_pct can reach 100 × cpus
  cpu_pct: number;              // busy (user + system), of one CPU
  user_pct: number;
  system_pct: number;
  iowait_pct: number;
  steal_pct: number;
  idle_pct: number;
  cpu_ns: number;
  user_ns: number;
  system_ns: number;
  mem_total_bytes: number;
  mem_used_bytes: number;       // total - available
  mem_available_bytes: number;
  mem_anon_bytes: number;
  mem_file_bytes: number;
  mem_shmem_bytes: number;
  swap_used_bytes: number;
  read_bytes: number;           // storage (whole disks), over the interval
  write_bytes: number;
  minor_faults: number;
  major_faults: number;
  context_switches: number;
}

export type ProcRecord = ForkRecord | ExecRecord | ExitRecord | OnCpuRecord | OffCpuRecord | SchedRecord | LostRecord |
  ResourceRecord | ResourceSystemRecord | SyscallSeqRecord | SyscallStatRecord | SyscallThreadRecord | LockRecord |
  ModuleRecord;
export type RecordType = ProcRecord['type'];

/*
 * Raw records: decoded from the ring but not output as such; the model turns them into records
 * (switch-outs and switch-ins into oncpu/offcpu intervals with symbolized stacks).
 */

export interface SwitchOut extends RecordBase {
  type: 'switch_out';
  cpu: number;
  oncpu_start_ts_ns: number | null;
  /** No switch-in of it was seen: oncpu_start_ts_ns is the arrival the scheduler stamped (sched_info). */
  oncpu_start_inferred: boolean;
  state: number;
  preempt: boolean;
  /** The stacks and the registers are views into the ring batch: valid only while the record is dispatched. */
  kstack: BigUint64Array;
  stack_mode: 'dwarf' | 'fp' | 'none';
  exe_ino: number; // inode of the executable the user addresses belong to (0: none)
  /** fp mode: the frames; dwarf: the frames the kernel unwound from its tables (with the copy: to check against it). */
  ustack: BigUint64Array;
  /** The kernel's frames in ustack stop at its limit, not at the outermost frame. */
  ustack_more: boolean;
  /** dwarf mode, where the kernel's tables could not unwind the stack (or dwarf-copy): the copy to unwind. */
  dwarf?: { regs: BigUint64Array; base: bigint; stack: Uint8Array };
}

export interface SwitchIn extends RecordBase {
  type: 'switch_in';
  cpu: number;
  offcpu_start_ts_ns: number | null;
  state: number;
  preempt: boolean;
  first_run: boolean;
  inferred: boolean; // no switch was reported: ts_ns is the arrival the scheduler stamped (sched_info)
}

export type RawRecord = SwitchOut | SwitchIn;
export const isRaw = (r: ProcRecord | RawRecord): r is RawRecord => r.type === 'switch_out' || r.type === 'switch_in';
