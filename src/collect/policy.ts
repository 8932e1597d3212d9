// The collection policy: what `ctl -a` (or `trace`) asks for. It is validated here once for every
// entry point, and encoded into the `pi_policy` map slot that every BPF program reads.
import { UserError } from '../sys/errors.js';
import { pi_category, pi_policy, pi_target_kind } from './layout.js';

export const CATEGORIES = ['keytime', 'lock', 'resource', 'syscall', 'schedule'] as const;
export type Category = (typeof CATEGORIES)[number];

export const CATEGORY_BIT: Record<Category, number> = {
  keytime: pi_category.PI_CAT_KEYTIME,
  lock: pi_category.PI_CAT_LOCK,
  resource: pi_category.PI_CAT_RESOURCE,
  syscall: pi_category.PI_CAT_SYSCALL,
  schedule: pi_category.PI_CAT_SCHEDULE,
};

/** The original tool's short flag for each category (kept so its users need not relearn). */
export const CATEGORY_FLAG: Record<Category, string> = {
  keytime: '-k', lock: '-l', resource: '-r', syscall: '-s', schedule: '-S',
};

/** --stack: how off-CPU user stacks are taken (enum pi_stack_mode). */
export const STACK_MODES = { none: 0, fp: 1, dwarf: 2, 'dwarf-copy': 3 } as const;
export type StackMode = keyof typeof STACK_MODES;

export type Target =
  | { kind: 'all' }
  | { kind: 'pid'; pid: number }   // one thread
  | { kind: 'tgid'; tgid: number } // a thread group, and the processes it forks after activation
  | { kind: 'cpu'; cpu: number }   // the idle task (pid 0) of one CPU
  // every thread in a cgroup v2 and below it, as they come and go (src/sys/cgroups.ts): its path in
  // the hierarchy ("/a/b"), id (the directory's inode, decimal: JSON has no 64-bit integers) and depth
  | { kind: 'cgroup'; path: string; id: string; level: number }
  | { kind: 'containers' };       // -o: every thread outside the root cgroup namespace

export interface Policy {
  target: Target;
  categories: Category[];
  keytimeMode: 0 | 1;    // -k 0: no per-interval on-CPU records; -k 1: everything
  syscallSeqLen: number; // -s N, 1..50
  myproc: boolean;       // -m: procimage's own threads may be targets
  maxSeconds: number;    // -t SEC, 0 = no limit
  intervalSec: number;   // --interval SEC: how often in-kernel aggregates are read and reported
  stackMode: StackMode;  // --stack: user stacks of off-CPU intervals, by DWARF unwinding or frame pointers
  topN: number;          // --top N: with every process as target, resource reports the top N by each resource
  /**
   * --offcpu-min: off-CPU intervals at least this long (ns) are reported one by one with their stacks,
   * and so is the first of each distinct stack of a process; the other, shorter ones are counted per
   * thread and stack (offcpu_agg). 0: every interval one by one.
   */
  offcpuMinNs: number;
}

export const SYSCALL_SEQ_MAX = 50;
export const MIN_INTERVAL_SEC = 0.1;
export const TOP_MAX = 10000;
export const TOP_DEFAULT = 10;
export const OFFCPU_MIN_DEFAULT_NS = 1_000_000;
export const OFFCPU_MIN_MAX_NS = 3600e9;

export function defaultPolicy(target: Target, categories: Category[]): Policy {
  return { target, categories, keytimeMode: 0, syscallSeqLen: 10, myproc: false, maxSeconds: 0, intervalSec: 1, stackMode: 'dwarf',
    topN: TOP_DEFAULT, offcpuMinNs: OFFCPU_MIN_DEFAULT_NS };
}

const isId = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0x7fffffff;

/** Throws a UserError if the target cannot exist (cpus: how many CPUs the machine has). */
export function validateTarget(t: Target, cpus: number): void {
  if (t.kind === 'pid' && (!isId(t.pid) || t.pid === 0)) throw new UserError(`-p needs a thread id > 0, got ${t.pid}`);
  if (t.kind === 'tgid' && (!isId(t.tgid) || t.tgid === 0)) throw new UserError(`-P needs a process id > 0, got ${t.tgid}`);
  if (t.kind === 'cpu' && (!isId(t.cpu) || t.cpu >= cpus)) throw new UserError(`-c needs a CPU number from 0 to ${cpus - 1}, got ${t.cpu}`);
  if (t.kind === 'cgroup' && (typeof t.path !== 'string' || !t.path.startsWith('/') || !/^\d+$/.test(t.id) ||
    !Number.isInteger(t.level) || t.level < 0 || t.level >= 1024)) throw new UserError(`not a cgroup target: ${JSON.stringify(t)}`);
  if (!['all', 'pid', 'tgid', 'cpu', 'cgroup', 'containers'].includes(t.kind)) throw new UserError(`unknown target kind ${(t as Target).kind}`);
}

/** Throws a UserError naming the first thing wrong with p. */
export function validatePolicy(p: Policy, cpus: number): void {
  validateTarget(p.target, cpus);
  if (p.categories.length === 0) throw new UserError('no category chosen: give at least one of -k -l -r -s -S');
  for (const c of p.categories) if (!CATEGORIES.includes(c)) throw new UserError(`unknown category ${c}`);
  if (p.keytimeMode !== 0 && p.keytimeMode !== 1) throw new UserError(`-k takes 0 or 1, got ${p.keytimeMode}`);
  if (!Number.isInteger(p.syscallSeqLen) || p.syscallSeqLen < 1 || p.syscallSeqLen > SYSCALL_SEQ_MAX)
    throw new UserError(`-s takes a sequence length from 1 to ${SYSCALL_SEQ_MAX}, got ${p.syscallSeqLen}`);
  if (typeof p.maxSeconds !== 'number' || !(p.maxSeconds >= 0) || !Number.isFinite(p.maxSeconds))
    throw new UserError(`-t takes a number of seconds >= 0, got ${p.maxSeconds}`);
  if (!(p.stackMode in STACK_MODES)) throw new UserError(`--stack takes dwarf, dwarf-copy, fp or none, got ${p.stackMode}`);
  if (typeof p.intervalSec !== 'number' || !(p.intervalSec >= MIN_INTERVAL_SEC) || !Number.isFinite(p.intervalSec))
    throw new UserError(`--interval takes a number of seconds >= ${MIN_INTERVAL_SEC}, got ${p.intervalSec}`);
  if (!Number.isInteger(p.offcpuMinNs) || p.offcpuMinNs < 0 || p.offcpuMinNs > OFFCPU_MIN_MAX_NS)
    throw new UserError(`--offcpu-min takes a duration from 0 to 1h, got ${p.offcpuMinNs} ns`);
  if (!Number.isInteger(p.topN) || p.topN < 1 || p.topN > TOP_MAX)
    throw new UserError(`--top takes a number of processes from 1 to ${TOP_MAX}, got ${p.topN}`);
}

const TARGET_KIND = {
  all: pi_target_kind.PI_TARGET_ALL, pid: pi_target_kind.PI_TARGET_PID,
  tgid: pi_target_kind.PI_TARGET_TGID, cpu: pi_target_kind.PI_TARGET_CPU,
  cgroup: pi_target_kind.PI_TARGET_CGROUP, containers: pi_target_kind.PI_TARGET_CONTAINERS,
};

/** Whether the target is a set of threads kept per thread by the kernel (bpf/cgroup.bpf.h). */
export function isMemberTarget(t: Target): t is Extract<Target, { kind: 'cgroup' | 'containers' }> {
  return t.kind === 'cgroup' || t.kind === 'containers';
}

export function targetId(t: Target): number {
  return t.kind === 'pid' ? t.pid : t.kind === 'tgid' ? t.tgid : t.kind === 'cpu' ? t.cpu : 0;
}

/**
 * The struct pi_policy bytes for an active policy. generation numbers the activation (per-task state
 * of an earlier one is stale); startNs is its start, absolute CLOCK_MONOTONIC ns.
 */
export function encodePolicy(p: Policy, generation = 1, startNs = 0n): Buffer {
  const b = Buffer.alloc(pi_policy.SIZE);
  const o = pi_policy.OFF;
  b.writeUInt32LE(1, o.active);
  b.writeUInt32LE(TARGET_KIND[p.target.kind], o.target_kind);
  b.writeUInt32LE(targetId(p.target), o.target_id);
  b.writeUInt32LE(p.categories.reduce((m, c) => m | CATEGORY_BIT[c], 0), o.categories);
  b.writeUInt32LE(p.keytimeMode, o.keytime_mode);
  b.writeUInt32LE(p.syscallSeqLen, o.syscall_seq_len);
  b.writeUInt32LE(p.myproc ? 1 : 0, o.myproc);
  b.writeUInt32LE(STACK_MODES[p.stackMode], o.stack_mode);
  b.writeUInt32LE(generation, o.generation);
  b.writeBigUInt64LE(startNs, o.start_ns);
  b.writeBigUInt64LE(BigInt(p.offcpuMinNs), o.offcpu_min_ns);
  if (p.target.kind === 'cgroup') {
    b.writeBigUInt64LE(BigInt(p.target.id), o.target_cgroup_id);
    b.writeUInt32LE(p.target.level, o.target_cgroup_level);
  }
  return b;
}

/** The ready state: every program returns at once. */
export const INACTIVE_POLICY = Buffer.alloc(pi_policy.SIZE);

export function describeTarget(t: Target): string {
  switch (t.kind) {
    case 'all': return 'every thread';
    case 'pid': return `thread ${t.pid}`;
    case 'tgid': return `process ${t.tgid} and the processes it starts`;
    case 'cpu': return `the idle task of CPU ${t.cpu}`;
    case 'cgroup': return `cgroup ${t.path} and the cgroups below it`;
    case 'containers': return 'every thread in a container (outside the root cgroup namespace)';
  }
}

export function describePolicy(p: Policy): string {
  const cats = p.categories.map(c => c === 'keytime' ? `keytime (-k ${p.keytimeMode})`
    : c === 'syscall' ? `syscall (-s ${p.syscallSeqLen})`
    : c === 'resource' && p.target.kind === 'all' ? `resource (top ${p.topN})` : c);
  return `${describeTarget(p.target)}: ${cats.join(', ')}${p.maxSeconds ? `, for ${p.maxSeconds} s` : ''}`;
}
