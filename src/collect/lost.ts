// Counting what could not be handed over. The kernel side counts per reason in the per-CPU `pi_lost`
// map (enum pi_lost_reason); user space adds what it could not decode or take from the ring.
import { Codec, type BpfMap } from '../bpf/index.js';
import { pi_event_type, pi_lost_reason } from './layout.js';

/** Names used in `lost` records and the summary, with what each means. */
export const LOST_REASONS: Record<string, string> = {
  ring_full: 'records dropped because the ring buffer was full (the reader fell behind)',
  follow_full: "child processes not followed: their pid is beyond the follow bitmap (pid_max grew)",
  map_alloc: "aggregate entries not made though their map had room: the kernel's BPF allocator had none at hand, or the map was busy on that CPU",
  task_state: 'intervals not measured: no task storage could be allocated for a thread',
  ustack_budget: "off-CPU user stacks not taken (the interval and its kernel stack are): a process without unwind tables yet (its first moments) had more stacks to copy than a CPU's budget, or the ring was a quarter full",
  sched_threads: "target threads whose scheduling delay is not kept: the per-thread table is full",
  oversize: 'records larger than a drain batch',
  syscall_threads_full: 'threads whose syscall sequence and latencies were not kept: sc_slots (or sc_exited) was full',
  syscall_stats_full: '(thread, syscall) pairs not counted: sc_fast and sc_stats were full',
  syscall_errnos_full: 'syscall errors whose errno was not kept: sc_errnos was full',
  lock_stats_full: '(lock, thread) pairs not counted: lk_stats or futex_waits was full',
  lock_calls_full: 'lock calls, futex waits or kernel contentions not timed: a map of calls in flight was full',
  lock_holds_full: 'lock holds not timed: lk_holds was full',
  unknown_type: 'records of a type this build cannot decode',
  resource_exits_full: 'tasks whose last resource figures were not kept: more ended between two samples than resource_exits holds',
  resource_exit_walk_cut: "processes whose last resource figures leave out threads still exiting beyond the walk's bound",
};

const KERNEL_REASONS: Array<[number, string]> = [
  [pi_lost_reason.PI_LOST_RINGBUF, 'ring_full'],
  [pi_lost_reason.PI_LOST_FOLLOW_FULL, 'follow_full'],
  [pi_lost_reason.PI_LOST_MAP_ALLOC, 'map_alloc'],
  [pi_lost_reason.PI_LOST_TASK_STATE, 'task_state'],
  [pi_lost_reason.PI_LOST_USTACK_BUDGET, 'ustack_budget'],
  [pi_lost_reason.PI_LOST_SCHED_THREADS, 'sched_threads'],
  [pi_lost_reason.PI_LOST_RES_EXITS_FULL, 'resource_exits_full'],
  [pi_lost_reason.PI_LOST_RES_WALK_CUT, 'resource_exit_walk_cut'],
  [pi_lost_reason.PI_LOST_SC_THREADS_FULL, 'syscall_threads_full'],
  [pi_lost_reason.PI_LOST_SC_STATS_FULL, 'syscall_stats_full'],
  [pi_lost_reason.PI_LOST_SC_ERRNOS_FULL, 'syscall_errnos_full'],
  [pi_lost_reason.PI_LOST_LOCK_STATS_FULL, 'lock_stats_full'],
  [pi_lost_reason.PI_LOST_LOCK_CALLS_FULL, 'lock_calls_full'],
  [pi_lost_reason.PI_LOST_LOCK_HOLDS_FULL, 'lock_holds_full'],
];

/** A per-CPU array of u64 counters by u32 index (pi_lost, pi_sent, pi_lost_type). */
const counters = (m: BpfMap) => m.typed(Codec.u32, Codec.perCpu(Codec.u64));
const total = (perCpu: bigint[] = []) => perCpu.reduce((s, v) => s + Number(v), 0);

/** Totals since load of every kernel-side reason, summed over CPUs. */
export function readKernelLost(lost: BpfMap): Map<string, number> {
  const m = counters(lost);
  return new Map(KERNEL_REASONS.map(([idx, name]) => [name, total(m.lookup(idx))]));
}

/** Per-type totals since load (pi_sent, pi_lost_type), summed over CPUs, by enum pi_event_type. */
export function readPerType(m: BpfMap): Map<number, number> {
  const out = new Map<number, number>();
  for (const [type, perCpu] of counters(m).entries()) {
    const n = total(perCpu);
    if (n) out.set(type, n);
  }
  return out;
}

const TYPE_NAMES = new Map<number, string>(Object.entries(pi_event_type)
  .map(([name, v]) => [v as number, name.replace(/^PI_EV_/, '').toLowerCase()]));

/** "switch_out" for PI_EV_SWITCH_OUT; "type_N" for a type this build does not know. */
export function eventTypeName(t: number): string {
  return TYPE_NAMES.get(t) ?? `type_${t}`;
}
