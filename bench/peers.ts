// The peer study (issue 16): each job procimage does, beside the tools a user would pick for it, as
// users compare tools. `make bench-peers` (`tsx bench/run.ts peers`) prints the tables and writes the
// plots into docs/peers/ (bench/peers/plot.ts) with the run's own data (docs/peers/results.json).
//
// For every job, tool and load (idle, then stress-ng -c <cores>), in rounds that rotate the order of
// the tools (the machine is shared: drift hits them all alike), one session:
//  - the target, a workload with a figure of its own, runs SECONDS pinned to CPU 1 and writes its figure
//    to a file, so that no tool's output mixes with it; each traced run sits between two untraced runs
//    and its slowdown is their mean figure over its own (the machine is shared: its speed drifts);
//  - the tool is used as its users use it: a command it starts (procimage trace -- CMD, perf, strace,
//    bpftrace -c) or, for the libbpf-tools that take no command, attached with -p to the target held
//    behind procimage-gate, which is opened once the tool says it is collecting;
//  - the tool's CPU is utime + stime of its process (/proc/PID/stat, every thread; its children, the
//    target among them, are not in it), polled every 50 ms until it exits: over the whole session, and
//    over the target's run alone (% of one core); its peak memory is VmHWM (/proc/PID/status);
//  - events lost: what each tool itself reports (procimage's summary "kernel" line, perf's lost
//    samples, bpftrace's and execsnoop's "Lost N events", perf trace's "LOST N events"); tools that
//    count in the kernel (runqlat, syscount) or stop the target at every event (strace) lose none.
// Then start-up, idle and loaded: from launch until the tool collects (the command it starts prints a
// marker; a libbpf-tool prints its banner, or, for offcputime, which prints none, holds a BPF link), and
// until it has exited (a command that does nothing; a libbpf-tool interrupted once ready).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { release } from 'node:os';
import { CLI, CORES, GATE, ROOT, cpuHogs, fmt, median, sleep, stop, table, workload } from './lib.js';
import { slowdown, writePlots } from './peers/plot.js';

const SECONDS = Number(process.env.PEERS_SECONDS ?? 2);
const ROUNDS = Number(process.env.PEERS_ROUNDS ?? 3);
const STARTUPS = Number(process.env.PEERS_STARTUPS ?? 3);
const BT_SCRIPT = join(ROOT, 'bench', 'peers', 'lifecycle.bt');
const MARK = 'PEERS-READY';
const TICK = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s on x86
const SESSION_LIMIT_MS = 120_000;

// ---------------------------------------------------------------------------------------------------
// Jobs, targets and tools

type JobId = 'offcpu' | 'sched' | 'syscall' | 'exec' | 'life';

interface Target { what: string; argv: string[]; unit: string }

/** The figures a target printed: threadpong one number, unixmix "test ops_per_s" lines. */
function figures(out: string): Record<string, number> {
  const lines = out.trim().split('\n').filter(Boolean);
  if (lines.length === 1 && /^[\d.]+$/.test(lines[0])) return { value: Number(lines[0]) };
  return Object.fromEntries(lines.map(l => l.split(/\s+/)).filter(f => f.length === 2).map(([k, v]) => [k, Number(v)]));
}

const pin = (argv: string[]) => ['taskset', '-c', String(Math.min(1, CORES - 1)), ...argv];
const secs = String(SECONDS);
const MIX = ['syscall', 'context', 'spawn', 'execl'];
const TARGETS: Record<JobId, Target> = {
  offcpu: { what: `threadpong ${secs}: two threads pass an integer over two pipes, one CPU`, argv: pin([workload('threadpong'), secs]), unit: 'round trips/s' },
  sched: { what: `threadpong ${secs} (as above): every message a wakeup`, argv: pin([workload('threadpong'), secs]), unit: 'round trips/s' },
  syscall: { what: `unixmix ${secs} syscall: getpid + getuid + umask rounds`, argv: pin([workload('unixmix'), secs, 'syscall']), unit: 'rounds/s' },
  exec: { what: `unixmix ${secs} execl: a process execs itself down a chain of 16`, argv: pin([workload('unixmix'), secs, 'execl']), unit: 'execs/s' },
  life: {
    what: `unixmix ${fmt(SECONDS / MIX.length, 2)} ${MIX.join(' ')}: syscalls, two processes ping-ponging, fork + exit, exec chains`,
    argv: pin([workload('unixmix'), String(SECONDS / MIX.length), ...MIX]), unit: 'geometric mean of the tests',
  },
};
const JOB_TITLE: Record<JobId, string> = {
  offcpu: 'off-CPU stacks', sched: 'scheduling delay', syscall: 'syscall counts and latency', exec: 'execs', life: 'the whole lifecycle',
};

interface Lost { lost: number | null; of: number | null; note: string }

/** What a session left behind: its streams and its files. */
interface Output { out: string; err: string; dir: string }

interface Tool {
  job: JobId;
  name: string;
  /** programs it needs: a missing one leaves the tool out with one line */
  needs: string[];
  /** a command the tool starts and follows (CMD: the target, or the start-up marker) */
  launch?: (cmd: string[], dir: string) => string[];
  /** or: attached to a running process */
  attach?: (pid: number) => string[];
  /** an attached tool collects once it printed a line, or holds a BPF link */
  ready?: 'line' | 'bpf-link';
  /** stdout: kept to parse (a file in the session's directory), or thrown away */
  stdout: 'keep' | 'discard';
  lost: (o: Output) => Lost;
  /** what the tool's user runs afterwards to see the result (perf report), measured apart */
  post?: (dir: string) => string[];
}

const num = (re: RegExp, s: string) => { const m = re.exec(s); return m ? Number(m[1]) : null; };
const sumAll = (re: RegExp, s: string) => [...s.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);

/** procimage's summary: "kernel  N records sent, N received, N dropped (...)". */
function procimageLost(o: Output): Lost {
  const m = /^kernel\s+(\d+) records sent, (\d+) received, (\d+) dropped/m.exec(o.err);
  if (!m) return { lost: null, of: null, note: 'no summary' };
  const sent = Number(m[1]), dropped = Number(m[3]);
  return { lost: dropped, of: sent + dropped, note: 'records' };
}

/** perf record: perf report's header counts the samples lost and kept. */
function perfRecordLost(o: Output): Lost {
  const rep = readOr(join(o.dir, 'perf.report'));
  const lost = num(/^# Total Lost Samples: (\d+)/m, rep);
  const kept = num(/\((\d+) samples\)/, o.err);
  return { lost, of: lost !== null && kept !== null ? lost + kept : null, note: 'samples' };
}

const readOr = (f: string) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } };

/** The lines of bpftrace's lifecycle script, one per event, and its "Lost N events". */
function bpftraceLost(o: Output): Lost {
  const out = readOr(join(o.dir, 'stdout'));
  const printed = (out.match(/^(on|off|fork|exec|exit) /gm) ?? []).length;
  const lost = sumAll(/Lost (\d+) events/g, out + o.err);
  return { lost, of: printed + lost, note: 'events' };
}

const PI_JSON = (cats: string[]) => (cmd: string[]) => [CLI, 'trace', ...cats, '--json', '--', ...cmd];
const ALL_TOOLS: Tool[] = [
  { job: 'offcpu', name: 'procimage -k 0', needs: [], launch: PI_JSON(['-k', '0']), stdout: 'discard', lost: procimageLost },
  {
    job: 'offcpu', name: 'offcputime -p', needs: ['offcputime'], attach: p => ['offcputime', '-p', String(p)], ready: 'bpf-link', stdout: 'keep',
    lost: o => ({ lost: (readOr(join(o.dir, 'stdout')).match(/\[Missed (User|Kernel) Stack\]/g) ?? []).length, of: null, note: 'stacks missed; counts in the kernel' }),
  },
  {
    job: 'offcpu', name: 'perf record -e sched:sched_switch --call-graph dwarf', needs: ['perf'],
    launch: (cmd, dir) => ['perf', 'record', '-e', 'sched:sched_switch', '--call-graph', 'dwarf', '-o', join(dir, 'perf.data'), '--', ...cmd],
    stdout: 'discard', lost: perfRecordLost,
    post: dir => ['sh', '-c', `exec perf report -i ${join(dir, 'perf.data')} --stdio --no-children > ${join(dir, 'perf.report')} 2>/dev/null`],
  },
  { job: 'sched', name: 'procimage -S', needs: [], launch: PI_JSON(['-S']), stdout: 'discard', lost: procimageLost },
  {
    job: 'sched', name: 'runqlat -p', needs: ['runqlat', 'stdbuf'], attach: p => ['stdbuf', '-oL', 'runqlat', '-p', String(p)], ready: 'line',
    stdout: 'keep', lost: () => ({ lost: null, of: null, note: 'histogram in the kernel' }),
  },
  { job: 'syscall', name: 'procimage -s 10', needs: [], launch: PI_JSON(['-s', '10']), stdout: 'discard', lost: procimageLost },
  {
    job: 'syscall', name: 'syscount -L -p', needs: ['syscount', 'stdbuf'], attach: p => ['stdbuf', '-oL', 'syscount', '-L', '-p', String(p)], ready: 'line',
    stdout: 'keep', lost: () => ({ lost: null, of: null, note: 'counts in the kernel' }),
  },
  {
    job: 'syscall', name: 'perf trace -s', needs: ['perf'], launch: cmd => ['perf', 'trace', '-s', '--', ...cmd], stdout: 'keep',
    lost: o => {
      // its summary: "unixmix (11873), 72210 events, 100.0%" per process
      const all = o.err + readOr(join(o.dir, 'stdout')), lost = sumAll(/LOST (\d+) events/g, all);
      return { lost, of: sumAll(/\(\d+\), (\d+) events/g, all) + lost, note: 'events' };
    },
  },
  {
    job: 'syscall', name: 'strace -c -f', needs: ['strace'], launch: cmd => ['strace', '-c', '-f', '--', ...cmd], stdout: 'keep',
    lost: () => ({ lost: null, of: null, note: 'stops the target instead' }),
  },
  { job: 'exec', name: 'procimage -k 0', needs: [], launch: PI_JSON(['-k', '0']), stdout: 'discard', lost: procimageLost },
  {
    job: 'exec', name: 'execsnoop (every process)', needs: ['execsnoop', 'stdbuf'], attach: () => ['stdbuf', '-oL', 'execsnoop'], ready: 'line', stdout: 'keep',
    lost: o => {
      const lines = readOr(join(o.dir, 'stdout')).split('\n').filter(Boolean).length - 1;
      const lost = sumAll(/Lost (\d+) events/g, o.err);
      return { lost, of: lines + lost, note: 'events, all processes' };
    },
  },
  { job: 'life', name: 'procimage (every category)', needs: [], launch: PI_JSON([]), stdout: 'discard', lost: procimageLost },
  { job: 'life', name: 'procimage -k 1 -S -s 10', needs: [], launch: PI_JSON(['-k', '1', '-S', '-s', '10']), stdout: 'discard', lost: procimageLost },
  {
    job: 'life', name: 'bpftrace lifecycle.bt', needs: ['bpftrace'], launch: cmd => ['bpftrace', '-c', cmd.join(' '), BT_SCRIPT],
    stdout: 'keep', lost: bpftraceLost,
  },
];

// ---------------------------------------------------------------------------------------------------
// One process watched through /proc

/** Polls a process's CPU (utime + stime of every thread) and VmHWM until it is gone. */
class Watch {
  ticks = 0;
  hwmKb = 0;
  private timer: NodeJS.Timeout;
  constructor(readonly pid: number, ms = 50) {
    this.poll();
    this.timer = setInterval(() => this.poll(), ms);
  }
  poll(): void {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
      if (f[0] === 'Z') return; // reaped soon: its figures stay what they were
      this.ticks = Number(f[11]) + Number(f[12]); // utime, stime: fields 14 and 15
      const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      if (hwm) this.hwmKb = Math.max(this.hwmKb, Number(hwm[1]));
    } catch { /* gone */ }
  }
  get cpuS(): number { return this.ticks / TICK; }
  end(): void { clearInterval(this.timer); }
}

interface Proc { p: ChildProcess; out: string; err: string; closed: Promise<number | null> }

function start(argv: string[], stdout: 'pipe' | number | 'ignore', extra: Array<'pipe' | 'ignore'> = []): Proc {
  const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', stdout, 'pipe', ...extra] });
  const r: Proc = { p, out: '', err: '', closed: new Promise(res => p.once('close', code => res(code))) };
  p.stdout?.setEncoding('utf8').on('data', d => { if (r.out.length < 1 << 20) r.out += d; });
  p.stderr!.setEncoding('utf8').on('data', d => { if (r.err.length < 1 << 22) r.err += d; });
  return r;
}

/** Ends a process with SIGINT (as a user's Ctrl-C); SIGKILL if it has not exited after 20 s. */
async function interrupt(r: Proc): Promise<void> {
  if (r.p.exitCode !== null || r.p.signalCode !== null) return;
  r.p.kill('SIGINT');
  const t = setTimeout(() => r.p.kill('SIGKILL'), 20_000);
  await r.closed;
  clearTimeout(t);
}

const hasBpfLink = (pid: number) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).some(fd => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:bpf_link'; } catch { return false; } });
  } catch { return false; }
};

async function until(cond: () => boolean, ms: number, step = 5): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(step);
  }
  return true;
}

/** An attached tool is collecting: it printed a line, or holds a BPF link. */
function isReady(t: Tool, r: Proc): boolean {
  return t.ready === 'line' ? r.out.includes('\n') : hasBpfLink(r.p.pid!);
}

// ---------------------------------------------------------------------------------------------------
// Sessions

interface Session {
  figures: Record<string, number>;
  /** the untraced runs just before and after this one */
  untracedAround?: Array<Record<string, number>>;
  cpuS?: number; runCpuS?: number; runS?: number; hwmMb?: number; lost?: Lost;
  postCpuS?: number; postS?: number; postHwmMb?: number;
  failed?: string;
}

let sessionNo = 0;

/** The target, through a script that writes its pid and its figure to files of the session's directory. */
function targetScript(dir: string, t: Target): string[] {
  const sh = join(dir, 'target.sh');
  writeFileSync(sh, `echo $$ > ${join(dir, 'target.pid')}\nexec ${t.argv.join(' ')} > ${join(dir, 'target.out')}\n`);
  return ['/bin/sh', sh];
}

function targetState(pid: number): string {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s[s.lastIndexOf(')') + 2];
  } catch { return 'gone'; }
}

async function session(base: string, job: JobId, tool: Tool | null): Promise<Session> {
  const dir = join(base, String(++sessionNo));
  mkdirSync(dir);
  const cmd = targetScript(dir, TARGETS[job]);
  const result = (extra: Partial<Session>): Session => ({ figures: figures(readOr(join(dir, 'target.out'))), ...extra });
  try {
    if (!tool) {
      const r = start(cmd, 'ignore');
      await r.closed;
      return result({});
    }
    const stdoutFd = tool.stdout === 'keep' ? openSync(join(dir, 'stdout'), 'w') : 'ignore';
    let r: Proc, w: Watch, run0 = 0, t0 = 0, runS = 0;
    try {
      if (tool.launch) {
        r = start(tool.launch(cmd, dir), stdoutFd);
        w = new Watch(r.p.pid!);
        // the target runs from when its script wrote its pid to when it exits
        const pidFile = join(dir, 'target.pid');
        const started = await until(() => readOr(pidFile).endsWith('\n') || r.p.exitCode !== null, SESSION_LIMIT_MS);
        if (!started || r.p.exitCode !== null) throw new Error(`no target: ${r.err.trim().split('\n').slice(-2).join(' / ')}`);
        w.poll(); run0 = w.ticks; t0 = performance.now();
        const pid = Number(readOr(pidFile));
        await until(() => ['Z', 'gone'].includes(targetState(pid)), SESSION_LIMIT_MS, 10);
        w.poll(); runS = (performance.now() - t0) / 1e3;
      } else {
        const gate = start([GATE, '3', ...cmd], 'ignore', ['pipe']);
        r = start(tool.attach!(gate.p.pid!), tool.ready === 'line' ? 'pipe' : stdoutFd);
        w = new Watch(r.p.pid!);
        if (!(await until(() => isReady(tool, r) || r.p.exitCode !== null, 30_000)) || r.p.exitCode !== null) {
          gate.p.kill('SIGKILL');
          throw new Error(`not ready: ${r.err.trim().split('\n').slice(-2).join(' / ')}`);
        }
        w.poll(); run0 = w.ticks; t0 = performance.now();
        (gate.p.stdio[3] as NodeJS.WritableStream).end('g');
        await gate.closed;
        w.poll(); runS = (performance.now() - t0) / 1e3;
        await sleep(200); // what the tool still had to read of the target's last events
      }
      const runTicks = w.ticks - run0;
      if (tool.attach) await interrupt(r);
      const limit = setTimeout(() => r.p.kill('SIGKILL'), SESSION_LIMIT_MS);
      await r.closed;
      clearTimeout(limit);
      w.end();
      if (tool.ready === 'line') writeFileSync(join(dir, 'stdout'), r.out);
      const s: Session = result({ cpuS: w.cpuS, runCpuS: runTicks / TICK, runS, hwmMb: w.hwmKb / 1024 });
      if (tool.post) {
        const p = start(tool.post(dir), 'ignore');
        const pw = new Watch(p.p.pid!), p0 = performance.now();
        await p.closed;
        pw.end();
        Object.assign(s, { postCpuS: pw.cpuS, postS: (performance.now() - p0) / 1e3, postHwmMb: pw.hwmKb / 1024 });
      }
      s.lost = tool.lost({ out: r.out, err: r.err, dir });
      if (!Object.keys(s.figures).length) s.failed = `the target printed nothing (${r.err.trim().split('\n').slice(-1)[0] ?? ''})`;
      return s;
    } finally {
      if (typeof stdoutFd === 'number') closeSync(stdoutFd);
    }
  } catch (e) {
    return { figures: {}, failed: (e as Error).message };
  } finally {
    rmSync(dir, { recursive: true, force: true }); // perf.data: hundreds of MB
  }
}

interface Startup { readyS?: number; exitS?: number; failed?: string }

/** From launch to collecting, and to exit, on a command that does nothing (or an idle process). */
async function startup(tool: Tool, idlePid: number): Promise<Startup> {
  const dir = mkdtempSync('/dev/shm/peers-startup-');
  try {
    const t0 = performance.now();
    let readyS: number | undefined;
    if (tool.launch) {
      const r = start(tool.launch(['/bin/echo', MARK], dir), 'pipe');
      await until(() => r.out.includes(MARK) || r.err.includes(MARK) || r.p.exitCode !== null, 60_000, 2);
      if (r.out.includes(MARK) || r.err.includes(MARK)) readyS = (performance.now() - t0) / 1e3;
      await r.closed;
      const exitS = (performance.now() - t0) / 1e3;
      return readyS === undefined ? { failed: r.err.trim().split('\n').slice(-1)[0] } : { readyS, exitS };
    }
    const r = start(tool.attach!(idlePid), 'pipe');
    const ok = await until(() => isReady(tool, r) || r.p.exitCode !== null, 60_000, 2);
    if (ok && r.p.exitCode === null) readyS = (performance.now() - t0) / 1e3;
    await interrupt(r);
    const exitS = (performance.now() - t0) / 1e3;
    return readyS === undefined ? { failed: r.err.trim().split('\n').slice(-1)[0] } : { readyS, exitS };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// The run

export interface PeerResults {
  date: string; host: string; cores: number; seconds: number; rounds: number;
  busy: { before: string; after: string; stealS: number };
  targets: Record<JobId, { what: string; unit: string }>;
  jobTitles: Record<JobId, string>;
  loads: Array<{
    load: string;
    untraced: Record<JobId, Array<Record<string, number>>>;
    rows: Array<{ job: JobId; tool: string; sessions: Session[]; startups: Startup[] }>;
  }>;
  missing: string[];
}

const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const pressure = () => {
  const cpu = readOr('/proc/pressure/cpu').split('\n')[0].replace(/^some /, '');
  return `load average ${readOr('/proc/loadavg').split(' ').slice(0, 3).join(' ')}, CPU pressure ${cpu || 'n/a'}`;
};
const stealTicks = () => Number(readOr('/proc/stat').split('\n')[0].trim().split(/\s+/)[8]);

export async function peersBench(): Promise<string> {
  const missing: string[] = [];
  const tools = ALL_TOOLS.filter(t => {
    const gone = t.needs.filter(b => !have(b));
    if (gone.length) missing.push(`${t.name}: ${gone.join(', ')} not found (make bench-peers installs the bench's packages)`);
    return !gone.length;
  });
  for (const m of missing) console.error(`peers: ${m}: left out`);
  const jobs = Object.keys(TARGETS) as JobId[];
  const res: PeerResults = {
    date: new Date().toISOString(), host: `Linux ${release()}`, cores: CORES, seconds: SECONDS, rounds: ROUNDS,
    busy: { before: pressure(), after: '', stealS: 0 },
    targets: Object.fromEntries(jobs.map(j => [j, { what: TARGETS[j].what, unit: TARGETS[j].unit }])) as PeerResults['targets'],
    jobTitles: JOB_TITLE, loads: [], missing,
  };
  const steal0 = stealTicks();
  const base = mkdtempSync('/dev/shm/peers-');
  const idle = spawn('sleep', ['3600'], { stdio: 'ignore' }); // what attached tools watch at start-up
  try {
    for (const load of ['idle', `stress-ng -c ${CORES}`]) {
      const hogs = load === 'idle' ? undefined : cpuHogs();
      await sleep(300);
      const L: PeerResults['loads'][number] = {
        load, untraced: Object.fromEntries(jobs.map(j => [j, []])) as unknown as Record<JobId, Array<Record<string, number>>>,
        rows: tools.map(t => ({ job: t.job, tool: t.name, sessions: [], startups: [] })),
      };
      try {
        for (let round = 0; round < ROUNDS; round++) {
          for (const job of jobs) {
            const mine = tools.filter(t => t.job === job);
            // the tools in a rotated order, each between two untraced runs: its slowdown is against
            // those two, so that the drift of a shared machine over a round cancels out
            const rot = round % mine.length;
            const order = [...mine.slice(rot), ...mine.slice(0, rot)];
            const say = (t: Tool | null, s: Session) => console.error(`peers: ${load}, round ${round + 1}, ${JOB_TITLE[job]}: ${t?.name ?? 'untraced'}` +
              (s.failed ? ` FAILED: ${s.failed}` : ` ${Object.values(s.figures).map(v => fmt(v, 0)).join(' ')}`));
            let before = await session(base, job, null);
            say(null, before);
            L.untraced[job].push(before.figures);
            for (const t of order) {
              await sleep(300);
              const s = await session(base, job, t);
              say(t, s);
              await sleep(300);
              const after = await session(base, job, null);
              say(null, after);
              L.untraced[job].push(after.figures);
              s.untracedAround = [before.figures, after.figures].filter(f => Object.keys(f).length);
              L.rows[tools.indexOf(t)].sessions.push(s);
              before = after;
            }
          }
        }
        for (let i = 0; i < STARTUPS; i++) {
          for (const t of i % 2 ? [...tools].reverse() : tools) L.rows[tools.indexOf(t)].startups.push(await startup(t, idle.pid!));
        }
      } finally {
        if (hogs) await stop(hogs);
      }
      res.loads.push(L);
    }
  } finally {
    idle.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  }
  res.busy.after = pressure();
  res.busy.stealS = (stealTicks() - steal0) / TICK;
  const docs = join(ROOT, 'docs', 'peers');
  mkdirSync(docs, { recursive: true });
  writeFileSync(join(docs, 'results.json'), JSON.stringify(res, null, 1) + '\n');
  const plots = await writePlots(res, docs);
  return report(res) + `\nPlots: ${plots.map(p => p.replace(ROOT + '/', '')).join(', ')}; data: docs/peers/results.json\n`;
}

// ---------------------------------------------------------------------------------------------------
// Tables

const spread = (xs: number[], d: number) => {
  if (!xs.length) return '-';
  const lo = Math.min(...xs), hi = Math.max(...xs);
  return xs.length === 1 || fmt(lo, d) === fmt(hi, d) ? fmt(median(xs), d) : `${fmt(median(xs), d)} (${fmt(lo, d)}-${fmt(hi, d)})`;
};

function lostCell(ss: Session[]): string {
  const ls = ss.map(s => s.lost).filter((l): l is Lost => !!l);
  if (!ls.length) return '-';
  if (ls.every(l => l.lost === null)) return `none (${ls[0].note})`;
  const pcts = ls.filter(l => l.of).map(l => (100 * l.lost!) / l.of!);
  const counts = ls.map(l => l.lost ?? 0);
  if (pcts.length === ls.length) return `${spread(pcts, 1)}% of ${ls[0].note}`;
  return `${new Set(counts).size === 1 ? counts[0] : counts.join(', ')} ${ls[0].note}`;
}

export function report(res: PeerResults): string {
  const parts: string[] = [
    `### The peer study (issue 16): ${res.date}, ${res.host}, ${res.cores} CPUs, ${res.rounds} rounds, targets of ${res.seconds} s`,
    '',
    `Host before: ${res.busy.before}; after: ${res.busy.after}; steal time during the run: ${fmt(res.busy.stealS, 1)} CPU-s.`,
    ...res.missing.map(m => `Left out: ${m}.`),
    '',
    'Targets (pinned to CPU 1; each traced run is compared with the untraced runs just before and after it):',
    ...Object.entries(res.targets).map(([j, t]) => `- ${res.jobTitles[j as JobId]}: ${t.what} (${t.unit})`),
  ];
  for (const L of res.loads) {
    const rows = L.rows.map(r => {
      const ok = r.sessions.filter(s => !s.failed);
      const sd = ok.map(s => slowdown(s.untracedAround ?? [], s.figures)).filter((x): x is number => x !== null);
      const post = ok.filter(s => s.postCpuS !== undefined);
      return [
        res.jobTitles[r.job], r.tool, spread(sd, 2),
        spread(ok.map(s => (100 * s.runCpuS!) / s.runS!), 0),
        spread(ok.map(s => s.cpuS!), 2) + (post.length ? ` + ${spread(post.map(s => s.postCpuS!), 2)} report` : ''),
        spread(ok.map(s => s.hwmMb!), 0) + (post.length ? ` / ${spread(post.map(s => s.postHwmMb!), 0)} report` : ''),
        lostCell(ok),
        r.sessions.length - ok.length ? `${r.sessions.length - ok.length} failed: ${r.sessions.find(s => s.failed)!.failed}` : '',
      ];
    });
    const base = (Object.keys(res.targets) as JobId[]).map(j => {
      const u = L.untraced[j];
      const keys = Object.keys(u[0] ?? {});
      return `${res.jobTitles[j]} ${keys.map(k => `${k === 'value' ? '' : k + ' '}${spread(u.map(f => f[k]), 0)}`).join(', ')}`;
    });
    parts.push('', `#### ${L.load}: each job beside its peers (median of ${res.rounds} rounds, (min-max))`, '',
      `Untraced (every untraced run of this load): ${base.join('; ')}.`, '',
      table(['job', 'tool', 'target slowdown (x untraced)', 'tool CPU while the target ran (% of a core)', 'tool CPU, whole session (s)',
        'tool peak RSS (VmHWM, MB)', 'events lost (as the tool reports them)', 'failed'], rows));
  }
  const su = res.loads[0].rows.map((r, i) => {
    const cells = res.loads.flatMap(L => {
      const ok = L.rows[i].startups.filter(s => !s.failed);
      return [spread(ok.map(s => s.readyS!), 2), spread(ok.map(s => s.exitS!), 2)];
    });
    return [res.jobTitles[r.job], r.tool, ...cells];
  });
  parts.push('', `#### Start-up (s, median of ${res.loads[0].rows[0]?.startups.length ?? 0}, (min-max))`, '',
    table(['job', 'tool', ...res.loads.flatMap(L => [`to collecting, ${L.load}`, `to exit, ${L.load}`])], su), '',
    '"to collecting": the command the tool starts (`/bin/echo`) has printed, or the libbpf-tool printed its banner ' +
    '(offcputime prints none: it holds its BPF link); "to exit": that command\'s whole session, or the libbpf-tool interrupted once collecting.');
  return parts.join('\n') + '\n';
}

// `tsx bench/peers.ts --report`: the tables and plots again, from docs/peers/results.json
if (process.argv[1]?.endsWith('peers.ts') && process.argv.includes('--report')) {
  const docs = join(ROOT, 'docs', 'peers');
  const res = JSON.parse(readFileSync(join(docs, 'results.json'), 'utf8')) as PeerResults;
  console.log(report(res));
  if (existsSync(docs)) await writePlots(res, docs);
}
