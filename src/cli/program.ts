// The procimage command line as a function of its argv: the subcommands, their flags and the checks
// that need nothing loaded, apart from what runs them (Runners) and from the process around it
// (main.ts). So the parser can be driven in-process, with runners that only check (test/badinput).
import { Command, Option } from 'commander';
import { DEFAULT_PIN_DIR } from '../sys/paths.js';
import { VERSION } from '../sys/version.js';
import {
  addMetricsOptions, addPolicyOptions, categoriesOf, checkTargetExists, checkTop, idList, intIn, resourceSourceOption, secondsArg, targetOf,
  type PolicyFlags,
} from './options.js';
import type { ResourceSourceOption } from '../collect/resource/source.js';
import { UserError } from '../sys/errors.js';
import { oneLineMessage } from '../sys/printable.js';
import type { CtlFlags } from './ctl.js';
import type { MetricsFlags } from '../control/metrics.js';
import type { AttachOptions } from '../control/attach.js';
import type { TraceOptions } from '../control/trace.js';
import type { ReportOptions } from '../control/report.js';

/** What runs each subcommand once its flags have been parsed and checked: the exit status. */
export interface Runners {
  attach(o: AttachOptions): Promise<number>;
  ctl(o: CtlFlags): Promise<number>;
  trace(o: TraceOptions): Promise<number>;
  report(o: ReportOptions): Promise<number>;
}

/** Where the CLI's own messages go (help, version, errors). */
export interface CliOutput { out(s: string): void; err(s: string): void }

/**
 * Parses argv (without node and the script) and runs what it asks: the exit status. Bad input is one
 * line on io.err ("procimage: ..."); anything else that reaches here is a bug, printed with its stack.
 */
export async function runCli(argv: string[], runners: Runners, io: CliOutput): Promise<number> {
  let verbose = false;
  /** What the action returned: the process's exit status. */
  let exitCode = 0;
  const run = <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => { exitCode = await fn(...args); };

  const program = new Command('procimage')
    .description('Process-lifecycle profiler: key time points, locks, resources, syscalls and scheduling delay, from eBPF')
    .version(VERSION)
    .option('-v, --verbose', 'on failure, also print the libbpf and verifier logs')
    .enablePositionalOptions()
    .showHelpAfterError(false)
    // before the subcommands are made, which copy it: a parse error throws (one line, no exit)
    .exitOverride()
    .configureOutput({
      writeOut: io.out, writeErr: io.err,
      // a value echoed in the message may hold anything: escaped and shortened, one line
      outputError: (s, write) => write(`procimage: ${oneLineMessage(s.replace(/^error: /, '').trimEnd())}\n`),
    })
    .hook('preAction', cmd => { verbose = !!cmd.opts().verbose; });

  const ringSize = new Option('--ring-size <MiB>', 'ring buffer size in MiB, a power of two (sized for the longest stall of the reader)')
    .argParser(v => {
      const n = intIn('--ring-size', 1, 1024)(v);
      if (n & (n - 1)) throw new UserError(`--ring-size must be a power of two, got ${n}`);
      return n;
    }).default(16);

  addMetricsOptions(program.command('attach')
    .description('load and verify categories, pin them, and wait (attached to nothing) for procimage ctl')
    .option('-a, --all', 'every category')
    .option('-k, --keytime', 'key time points: fork, exec, exit, on/off-CPU')
    .option('-l, --lock', 'lock contention')
    .option('-r, --resource', 'resource use')
    .option('-s, --syscall', 'syscall sequences and statistics')
    .option('-S, --schedule', 'scheduling delay')
    .option('--pin-dir <DIR>', 'bpffs directory for the pins', DEFAULT_PIN_DIR))
    .option('--json', 'records as NDJSON on stdout (docs/ndjson.md)')
    .option('--stacks', 'text: print the full kernel and user stacks under each off-CPU interval')
    .addOption(ringSize)
    .addOption(resourceSourceOption())
    .action(run(async (o: { all?: boolean; keytime?: boolean; lock?: boolean; resource?: boolean; syscall?: boolean;
      schedule?: boolean; pinDir: string; json?: boolean; stacks?: boolean; ringSize: number; resourceSource: ResourceSourceOption } & MetricsFlags) => {
      const { CATEGORIES } = await import('../collect/policy.js');
      const { implemented } = await import('../collect/registry.js');
      const flags: PolicyFlags = { keytime: o.keytime ? 0 : undefined, lock: o.lock, resource: o.resource,
        syscall: o.syscall ? 1 : undefined, schedule: o.schedule };
      const categories = o.all ? CATEGORIES.filter(c => implemented(c)) : categoriesOf(flags);
      if (categories.length === 0) throw new UserError('attach needs categories: -a for all, or some of -k -l -r -s -S');
      (await import('../collect/resource/index.js')).chooseResourceSource(o.resourceSource);
      return runners.attach({ ...o, categories, pinDir: o.pinDir, json: !!o.json, stacks: !!o.stacks, ringBytes: o.ringSize << 20 });
    }));

  addPolicyOptions(program.command('ctl')
    .description('change the policy of a running procimage attach, from another shell')
    .option('-a, --activate', 'start collecting with the given target and categories (none: all attached)')
    .option('-d, --deactivate', 'stop collecting: back to the ready state, nothing attached')
    .option('-f, --finish', 'end the attach process and remove every pin')
    .option('--status', "print the attach's state"))
    .option('-t, --time <SEC>', 'stop collecting after SEC seconds (0: no limit)', secondsArg('-t'))
    .option('--pin-dir <DIR>', 'pin directory of the attach to control', DEFAULT_PIN_DIR)
    .option('--record <FILE>', 'with -a: the attach records everything it collects to FILE (docs/recording.md), until deactivated')
    .option('--json', 'print the answer as one JSON object (issued_ns, collecting_after_issue_ns, ...)')
    .action(run(async (o: CtlFlags) => runners.ctl(o)));

  addMetricsOptions(addPolicyOptions(program.command('trace')
    .description('collect in one process: on a target, on every thread, or on a command it starts (-- CMD ARGS)')
    .option('-a, --all', 'every category (the default when none is given)')))
    .option('--json', "records as NDJSON on stdout (docs/ndjson.md); CMD's own stdout then goes to stderr")
    .option('--stacks', 'text: print the full kernel and user stacks under each off-CPU interval')
    .option('--duration <SEC>', 'stop after SEC seconds', secondsArg('--duration'))
    .option('--record <FILE>', 'also record everything collected to FILE, for procimage report and the exports (docs/recording.md)')
    .option('--perfetto <OUT>', 'when done, export the run for the Perfetto UI (as report --perfetto)')
    .option('--pprof <OUT>', 'when done, export off-CPU (and lock wait) time by stack as a pprof profile (.pb.gz)')
    .option('--folded <OUT>', 'when done, export off-CPU time by stack as folded stacks')
    .addOption(ringSize)
    .addOption(resourceSourceOption())
    .argument('[command...]', 'command to start and follow from its exec to its exit')
    .passThroughOptions()
    .action(run(async (command: string[], o: PolicyFlags & MetricsFlags & { json?: boolean; stacks?: boolean; duration?: number; ringSize: number;
      resourceSource: ResourceSourceOption; record?: string; perfetto?: string; pprof?: string; folded?: string }) => {
      const { CATEGORIES, TOP_DEFAULT, OFFCPU_MIN_DEFAULT_NS } = await import('../collect/policy.js');
      const { implemented } = await import('../collect/registry.js');
      const asked = categoriesOf(o);
      const categories = o.all || asked.length === 0 ? CATEGORIES.filter(c => implemented(c)) : asked;
      const target = targetOf(o);
      checkTargetExists(target);
      checkTop(o, target !== undefined || command.length > 0, asked);
      (await import('../collect/resource/index.js')).chooseResourceSource(o.resourceSource);
      return runners.trace({
        ...o,
        target, categories, keytimeMode: (o.keytime ?? 0) as 0 | 1, syscallSeqLen: o.syscall ?? 10,
        myproc: !!o.myproc, intervalSec: o.interval ?? 1, stackMode: o.stack ?? 'dwarf', topN: o.top ?? TOP_DEFAULT,
        offcpuMinNs: o.offcpuMin ?? OFFCPU_MIN_DEFAULT_NS, json: !!o.json, stacks: !!o.stacks, durationSec: o.duration, command,
        ringBytes: o.ringSize << 20,
        exports: { perfetto: o.perfetto, pprof: o.pprof, folded: o.folded },
      });
    }));

  program.command('report')
    .description('read a recording (trace --record, ctl -a --record) back: the live output, its summary, or a part of it')
    .argument('<FILE>', 'the recording')
    .option('--json', 'records as NDJSON, exactly as the live --json printed them; the summary on stderr')
    .option('--summary', 'the summary alone')
    .option('--stacks', 'text: print the full kernel and user stacks under each off-CPU interval')
    .option('--pid <TID,...>', 'only these threads (and the whole system beside them)', idList('--pid'))
    .option('--tgid <TGID,...>', 'only these processes', idList('--tgid'))
    .option('--comm <COMM,...>', 'only threads of these names', v => v.split(','))
    .option('--from <SEC>', 'only what happened from SEC seconds after the start of collection', secondsArg('--from'))
    .option('--to <SEC>', 'only what happened until SEC seconds after the start of collection', secondsArg('--to'))
    .option('--perfetto <OUT>', 'export a trace for the Perfetto UI (Trace Event JSON) instead of printing the records')
    .option('--pprof <OUT>', 'export off-CPU (and lock wait) time by stack as a pprof profile (.pb.gz)')
    .option('--folded <OUT>', 'export off-CPU time by stack as folded stacks (flamegraph.pl, inferno, speedscope)')
    .option('--listen <HOST:PORT>', 'serve the page of the recording (HOST defaults to 127.0.0.1), until Ctrl-C')
    .option('--html <OUT>', 'write the page of the recording as one self-contained HTML file (opens offline)')
    .action(run(async (file: string, o: { json?: boolean; summary?: boolean; stacks?: boolean; pid?: number[]; tgid?: number[]; comm?: string[];
      from?: number; to?: number; perfetto?: string; pprof?: string; folded?: string; listen?: string; html?: string }) => {
      if (o.json && o.summary) throw new UserError('give --json or --summary, not both');
      if (o.json && (o.perfetto ?? o.pprof ?? o.folded)) throw new UserError('--json prints the records; the exports write files instead: give one or the other');
      if (o.from !== undefined && o.to !== undefined && o.from > o.to) throw new UserError(`--from ${o.from} is after --to ${o.to}`);
      if ((o.listen !== undefined || o.html !== undefined) && (o.json || o.summary || o.perfetto || o.pprof || o.folded)) {
        throw new UserError('--listen and --html show the page; give them without --json, --summary or the exports');
      }
      return runners.report({
        file, json: !!o.json, summary: !!o.summary, stacks: !!o.stacks, exports: { perfetto: o.perfetto, pprof: o.pprof, folded: o.folded },
        listen: o.listen, html: o.html,
        filter: {
          pids: o.pid && new Set(o.pid), tgids: o.tgid && new Set(o.tgid), comms: o.comm && new Set(o.comm),
          fromNs: o.from !== undefined ? Math.round(o.from * 1e9) : undefined, toNs: o.to !== undefined ? Math.round(o.to * 1e9) : undefined,
        },
      });
    }));

  try {
    // commander's answer to no command at all is its whole help on stderr: one line instead
    if (!argv.some(a => !a.startsWith('-') || ['-h', '--help', '-V', '--version'].includes(a))) {
      throw new UserError('give a command: attach, ctl, trace or report (procimage --help says more)', 2);
    }
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    const c = (e as { code?: string }).code;
    if (c === 'commander.helpDisplayed' || c === 'commander.version') return 0;
    if (c === 'commander.help') return (e as { exitCode?: number }).exitCode ?? 0; // `help`: 0
    return report(e, verbose, io.err);
  }
}

/** One line for what a user can act on; a stack only for what is a bug. */
function report(e: unknown, verbose: boolean, err: (s: string) => void): number {
  const error = e as Error & { exitCode?: number; log?: string; code?: string };
  const known = ['UserError', 'BpfError', 'VerifierError', 'UnsupportedFeatureError', 'SysError'];
  if (error && known.includes(error.name)) {
    const hint = error.name === 'VerifierError' && !verbose ? ' (procimage -v COMMAND ... prints the verifier log)' : '';
    err(`procimage: ${oneLineMessage(error.message)}${hint}\n`);
    if (verbose && error.log) err(error.log.endsWith('\n') ? error.log : error.log + '\n');
    return error.exitCode ?? 1;
  }
  if (error?.code === 'commander.invalidArgument' || error?.code?.startsWith?.('commander.')) return error.exitCode ?? 2;
  err(`procimage: internal error (a bug, please report it): ${error?.stack ?? String(e)}\n`);
  return 70;
}
