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
  /** Who woke it (a sleep, S or D, that a wake-up ended); null: preempted, or no wake-up was seen. */
  waker?: Waker | null;
}

/**
 * The wake-up that ended an off-CPU interval (tp_btf/sched_waking, in the waker's context). pid/tid/comm
 * are the task running where the wake-up happened: in an interrupt or softirq, whoever it interrupted
 * (context says which). Where the waker is a target, its on-CPU slice is the one of `pid` that holds
 * wake_ts_ns: the two intervals are linked by (pid, wake_ts_ns).
 */
export interface Waker {
  pid: number;          // the waker's thread id (as every record's pid)
  tgid: number;         // its process id
  comm: string | null;  // null: the record with its name and stacks was lost (the ring was full)
  /** task: a thread in its own (syscall) context; kthread: a kernel thread; hardirq/softirq: an interrupt's work. */
  context: 'task' | 'kthread' | 'hardirq' | 'softirq';
  target: boolean;      // the waker is itself a target: its user stack is there
  wake_ts_ns: number;   // when it was woken
  wake_delay_ns: number; // from the wake-up to running again: the interval's scheduling delay
  kstack: readonly string[]; // the waker's kernel stack at the wake-up, innermost first
  ustack: readonly string[]; // the waker's user stack (targets only): at the call that woke
  ustack_locs: readonly string[];
  ustack_mode: 'dwarf' | 'fp' | 'none';
  ustack_truncated: boolean;
}

/** A target thread moved from one CPU to another (tp_btf/sched_migrate_task). */
export interface MigrateRecord extends RecordBase {
  type: 'migrate';
  cpu: number;      // the CPU where the move was decided (the waker's, the balancer's, the caller's)
  from_cpu: number;
  to_cpu: number;
}

/**
 * offcpu_agg: a thread's off-CPU intervals shorter than --offcpu-min with the same stacks and state,
 * after the first of those stacks went out as an `offcpu` record: how many ended since the thread's
 * previous offcpu_agg record for them (since_ts_ns .. ts_ns), their total time, and the on-CPU time
 * each ended. Summed over the records, with the `offcpu` records, they are every interval.
 */
export interface OffCpuAggRecord extends RecordBase {
  type: 'offcpu_agg';
  cpu: number;         // where the last of them ended
  since_ts_ns: number; // the previous report of this thread's aggregates (or activation)
  count: number;
  total_ns: number;
  max_ns: number;      // the longest one since activation
  oncpu_count: number; // -k 1: the on-CPU intervals they ended whose start is known (-k 0: 0)
  oncpu_ns: number;
  below_ns: number;    // each was shorter than this (--offcpu-min)
  state: string;
  state_name: string;
  kstack: readonly string[];
  ustack: readonly string[];
  ustack_locs: readonly string[];
  ustack_mode: 'dwarf' | 'fp' | 'none';
  ustack_truncated: boolean;
  /** Who woke them (the key includes the waker: one record per waker); null: not ended by a wake-up. */
  waker: AggWaker | null;
}

/** A waker as an aggregate knows it: no wake-up time or stacks (the intervals were counted, not sent). */
export type AggWaker = Pick<Waker, 'pid' | 'tgid' | 'comm' | 'context' | 'target'>;

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
  /**
   * Who the waits were for, the most wait first: pthread mutex, the thread that held it when each
   * contended wait began (glibc's __owner); futex, the thread whose wake-up ended each wait (with
   * keytime collecting: its waker hook). null for kernel locks; [] where none is known.
   */
  owners?: LockOwner[] | null;
}

/** One thread the waits of a `lock` record were for, and how much of them. */
export interface LockOwner {
  pid: number;         // thread id
  comm: string | null; // its name, if it was still there to read
  count: number;       // waits
  wait_ns: number;     // their time
  /**
   * pthread locks: the owner's user stack where it acquired the lock, for the longest of these waits
   * (frame pointers from the acquiring call on, as the waiter's ustack); null if not seen (futex
   * wakers, a hold that began before activation)
   */
  stack: string[] | null;
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

export type ProcRecord = ForkRecord | ExecRecord | ExitRecord | OnCpuRecord | OffCpuRecord | OffCpuAggRecord | SchedRecord | LostRecord |
  ResourceRecord | ResourceSystemRecord | SyscallSeqRecord | SyscallStatRecord | SyscallThreadRecord | LockRecord |
  ModuleRecord | MigrateRecord;
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
  /** The stacks' identity in the process: later intervals with them name it (0n: none). */
  sig: bigint;
}

export interface SwitchIn extends RecordBase {
  type: 'switch_in';
  cpu: number;
  offcpu_start_ts_ns: number | null;
  state: number;
  preempt: boolean;
  first_run: boolean;
  inferred: boolean; // no switch was reported: ts_ns is the arrival the scheduler stamped (sched_info)
  /** false: the switch-out that began this interval sent no record; its stacks are those of sig, and: */
  out_sent: boolean;
  out_cpu: number;
  sig: bigint;
  oncpu_start_ts_ns: number | null; // the on-CPU interval that switch-out ended
  oncpu_start_inferred: boolean;
  /** The wake-up that ended its sleep (null: none: preempted, or before the waker hook ran). */
  wake_ts_ns: number | null;
  waker_pid: number;  // thread id
  waker_tgid: number;
  waker_flags: number; // enum pi_waker_flags
}

/** A sleeping target was woken: by whom, with the waker's stacks (its pid/tgid/comm in the header). */
export interface WakerRaw extends RecordBase {
  type: 'waker';
  cpu: number;
  wakee_pid: number;
  wakee_tgid: number;
  kthread: boolean;
  target: boolean;
  kstack: BigUint64Array;
  stack_mode: 'dwarf' | 'fp' | 'none';
  exe_ino: number;
  ustack: BigUint64Array;
  ustack_more: boolean;
  /** A copy to unwind (as a switch-out's): DWARF mode, where the kernel had no tables for the waker's process. */
  dwarf?: { regs: BigUint64Array; base: bigint; stack: Uint8Array };
}

export type RawRecord = SwitchOut | SwitchIn | WakerRaw;
export const isRaw = (r: ProcRecord | RawRecord): r is RawRecord =>
  r.type === 'switch_out' || r.type === 'switch_in' || r.type === 'waker';
