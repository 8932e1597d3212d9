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

/** Records the kernel could not hand over (or entries it could not keep), by reason; system-wide. */
export interface LostRecord extends RecordBase {
  type: 'lost';
  reason: string;
  count: number;
}

export type ProcRecord = ForkRecord | ExecRecord | ExitRecord | LostRecord;
export type RecordType = ProcRecord['type'];
