// Option values shared by the subcommands: parsed strictly (a typo is an error, not a zero), with
// the original tool's short flags.
import { existsSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CATEGORIES, MIN_INTERVAL_SEC, OFFCPU_MIN_DEFAULT_NS, OFFCPU_MIN_MAX_NS, SYSCALL_SEQ_MAX, TOP_DEFAULT, TOP_MAX, type Category, type StackMode, type Target } from '../collect/policy.js';
import { RESOURCE_SOURCES } from '../collect/resource/source.js';
import { DEFAULT_FOLD, METRICS_SERIES_MAX, METRICS_TOP_MAX } from '../output/prometheus/limits.js';
import { UserError } from '../sys/errors.js';
import { shown } from '../sys/printable.js';
import { resolveCgroup, resolveContainer, type CgroupTarget } from '../sys/cgroups.js';

export function intIn(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number, got '${shown(v)}'`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be from ${min} to ${max}, got ${shown(v)}`);
    return n;
  };
}

export function secondsArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number of seconds >= 0, got '${shown(v)}'`);
    return n;
  };
}

/** --interval: refused here, at parsing, below the least the policy takes (validatePolicy). */
function intervalArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < MIN_INTERVAL_SEC) {
    throw new InvalidArgumentError(`--interval must be a number of seconds >= ${MIN_INTERVAL_SEC}, got '${shown(v)}'`);
  }
  return n;
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 };

/** "1ms", "250us", "0.5s", "0": a duration in whole ns, from 0 to an hour. */
export function durationNsArg(name: string) {
  return (v: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)?\s*$/.exec(v);
    if (!m || (m[2] === undefined && Number(m[1]) !== 0)) {
      throw new InvalidArgumentError(`${name} must be a duration such as 1ms, 250us or 0, got '${v}'`);
    }
    const ns = Math.round(Number(m[1]) * UNIT_NS[m[2] ?? 'ns']);
    if (ns > OFFCPU_MIN_MAX_NS) throw new InvalidArgumentError(`${name} must be at most 1h, got '${v}'`);
    return ns;
  };
}

const ID_MAX = 0x3fffffff; // PID_MAX_LIMIT is 2^22; anything near 2^30 is a typo

/** "12,13": thread or process ids, each checked like -p's. */
export function idList(name: string) {
  const one = intIn(name, 0, ID_MAX);
  return (v: string): number[] => v.split(',').map(x => one(x));
}

/** -p/-P/-c/-k/-l/-r/-s/-S/-m: the target and categories of a policy, as ctl and trace take them. */
export function addPolicyOptions(cmd: Command): Command {
  return cmd
    .option('-p, --pid <PID>', 'trace one thread', intIn('-p PID', 1, ID_MAX))
    .option('-P, --tgid <TGID>', 'trace one process (thread group) and the processes it starts', intIn('-P TGID', 1, ID_MAX))
    .option('-c, --cpuid <CPU>', "trace a CPU's idle task (pid 0 exists once per CPU)", intIn('-c CPU', 0, 4095))
    .option('--cgroup <PATH>', 'trace every thread in a cgroup v2 and below it, as they come and go (PATH under /sys/fs/cgroup, or relative to it)')
    .option('--container <ID>', "trace a container's cgroup, by its id or name (a prefix): docker, podman, containerd, CRI-O, systemd scopes")
    .option('-o, --containers', 'trace every thread in a container (outside the root cgroup namespace)')
    .option('-k, --keytime <0|1>', 'key time points: 0 all but per-interval on-CPU records, 1 everything', intIn('-k', 0, 1))
    .option('-l, --lock', 'user-space and kernel lock contention')
    .option('-r, --resource', 'CPU, memory, I/O, faults, context switches')
    .option('-s, --syscall <N>', `syscall statistics and the last N (1-${SYSCALL_SEQ_MAX}) calls per thread`, intIn('-s N', 1, SYSCALL_SEQ_MAX))
    .option('-S, --schedule', 'scheduling delay, with the whole system beside it')
    .option('-m, --myproc', "allow procimage's own threads as targets")
    .option('--interval <SEC>', 'how often aggregates (schedule, syscall, lock, resource) are reported (default 1)', intervalArg)
    .addOption(new Option('--stack <MODE>', 'user stacks of off-CPU intervals: dwarf (.eh_frame, through code without frame pointers: unwound in the kernel from tables of each file, else from 12 KiB of stack copied at the switch), dwarf-copy (always the copy, unwound by procimage: deeper stacks are marked truncated; ~3 µs a switch-out in the kernel), fp (frame pointers only), none')
      .choices(['dwarf', 'dwarf-copy', 'fp', 'none']))
    .option('--offcpu-min <DURATION>', `off-CPU intervals at least this long are reported one by one with their stacks, as is the first of each distinct stack of a process; the shorter ones after it are counted per thread and stack (offcpu_agg records). 0: every interval one by one (default ${OFFCPU_MIN_DEFAULT_NS / 1e6}ms)`,
      durationNsArg('--offcpu-min'))
    .option('--top <N>', `every process (no -p/-P/-c): resource reports the top N by each resource (default ${TOP_DEFAULT})`,
      intIn('--top N', 1, TOP_MAX));
}

export interface PolicyFlags {
  pid?: number; tgid?: number; cpuid?: number; cgroup?: string; container?: string; containers?: boolean;
  keytime?: number; lock?: boolean; resource?: boolean; syscall?: number; schedule?: boolean;
  myproc?: boolean; all?: boolean; interval?: number; stack?: StackMode; top?: number; offcpuMin?: number;
}

/** The target the flags select; undefined when none (every thread). */
export function targetOf(f: PolicyFlags): Target | undefined {
  const given = [f.pid !== undefined, f.tgid !== undefined, f.cpuid !== undefined, f.cgroup !== undefined,
    f.container !== undefined, !!f.containers].filter(Boolean).length;
  if (given > 1) throw new UserError('give at most one of -p, -P, -c, --cgroup, --container and -o');
  if (f.cgroup !== undefined) return cgroupTarget(resolveCgroup(f.cgroup));
  if (f.container !== undefined) return cgroupTarget(resolveContainer(f.container));
  if (f.containers) return { kind: 'containers' };
  if (f.pid !== undefined) return { kind: 'pid', pid: f.pid };
  if (f.tgid !== undefined) return { kind: 'tgid', tgid: f.tgid };
  if (f.cpuid !== undefined) return { kind: 'cpu', cpu: f.cpuid };
  return undefined;
}

function cgroupTarget(c: CgroupTarget): Target {
  return { kind: 'cgroup', path: c.path, id: c.id.toString(), level: c.level };
}

/** Categories named by the flags (in SPEC order); [] when none. */
export function categoriesOf(f: PolicyFlags): Category[] {
  const on: Record<Category, boolean> = {
    keytime: f.keytime !== undefined, lock: !!f.lock, resource: !!f.resource,
    syscall: f.syscall !== undefined, schedule: !!f.schedule,
  };
  return CATEGORIES.filter(c => on[c]);
}

/** A pid or tgid that does not exist is an error now, not an activation that never sees anything. */
export function checkTargetExists(t: Target | undefined): void {
  if (t?.kind === 'pid' && !existsSync(`/proc/${t.pid}`)) throw new UserError(`no thread ${t.pid}`);
  if (t?.kind === 'tgid' && !existsSync(`/proc/${t.tgid}`)) throw new UserError(`no process ${t.tgid}`);
}

/**
 * --resource-source, on attach and trace (where the objects are loaded): where resource's per-task
 * figures come from. proc is what a kernel without BPF task iterators gets anyway; asking for it
 * elsewhere compares the two.
 */
export function resourceSourceOption(): Option {
  return new Option('--resource-source <SRC>', 'resource (-r): read tasks with a BPF task iterator (iter), from /proc (proc), ' +
    'or the iterator where the kernel has one (auto)').choices(RESOURCE_SOURCES).default('auto');
}

/** --listen and its companions, on attach and trace. */
export function addMetricsOptions(cmd: Command): Command {
  return cmd
    .option('--listen <HOST:PORT>', 'serve Prometheus metrics on /metrics (HOST defaults to 127.0.0.1)')
    .option('--metrics-threads', 'label metrics per thread (pid) too, not only per process: more series')
    .option('--metrics-grace <SEC>', 'keep an ended process\'s series this long (default 120)', secondsArg('--metrics-grace'))
    .option('--metrics-top <N>', `series of their own for the top N targets of each metric, the rest summed under comm="(other)" (default ${DEFAULT_FOLD.top})`,
      intIn('--metrics-top N', 0, METRICS_TOP_MAX))
    .option('--metrics-max-series <N>', `at most N series of the targets' own per scrape, all metrics together (default ${DEFAULT_FOLD.maxSeries})`,
      intIn('--metrics-max-series N', 0, METRICS_SERIES_MAX))
    .option('--bpf-stats', 'measure what each procimage BPF program costs the kernel (procimage_bpf_* metrics); costs every BPF program on the machine a little');
}

/**
 * --top is the every-process view of resource: refused with a target (which reports all of itself)
 * or without resource among the categories asked for (none asked means every one: fine).
 */
export function checkTop(f: PolicyFlags, targeted: boolean, categories: Category[]): void {
  if (f.top === undefined) return;
  if (targeted) throw new UserError('--top ranks every process: it does not go with -p, -P, -c or a command');
  if (categories.length && !categories.includes('resource')) throw new UserError('--top ranks resource use: it goes with -r');
}
