// The procimage command line. Subcommands load their modules lazily so that `ctl` never pays for
// libbpf and koffi at start-up.
import { DEFAULT_PIN_DIR } from '../sys/paths.js';
import type { ControlConnection } from '../control/client.js';
import { runCli, type Runners } from './program.js';
import { mark } from '../sys/timing.js';

mark('cli-modules');

/**
 * `procimage ctl ...`: connected to the attach before the rest of ctl loads and parses its flags
 * (10-25 ms), so that the attach starts what an activation would wait for meanwhile
 * (Session.prepare). The pin directory is read from argv here; ctl connects again if commander
 * reads another.
 */
async function earlyConnection(args: string[]): Promise<ControlConnection | undefined> {
  const sub = args.findIndex(a => !a.startsWith('-'));
  if (sub < 0 || args[sub] !== 'ctl') return undefined;
  let pinDir = DEFAULT_PIN_DIR;
  for (let i = sub + 1; i < args.length; i++) {
    if (args[i] === '--pin-dir' && i + 1 < args.length) pinDir = args[++i];
    else if (args[i].startsWith('--pin-dir=')) pinDir = args[i].slice('--pin-dir='.length);
  }
  // only ctl loads the client (node:net, node:crypto): the other subcommands never connect
  const { ControlConnection } = await import('../control/client.js');
  return ControlConnection.open(pinDir);
}
const early = await earlyConnection(process.argv.slice(2));

/** The real runners: each loads its modules only when its subcommand runs. */
const runners: Runners = {
  attach: async o => (await import('../control/attach.js')).runAttach(o),
  ctl: async o => (await import('./ctl.js')).runCtl(o, early),
  trace: async o => {
    const { runTrace } = await import('../control/trace.js');
    mark('trace-modules');
    return runTrace(o);
  },
  report: async o => (await import('../control/report.js')).runReport(o),
};

async function main(): Promise<void> {
  // a closed stdout (| head) ends collection cleanly instead of crashing
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.kill(process.pid, 'SIGTERM');
  });
  const code = await runCli(process.argv.slice(2), runners,
    { out: s => process.stdout.write(s), err: s => process.stderr.write(s) });
  // process.exit() drops what a pipe has not taken yet: a large NDJSON output would lose its tail
  await Promise.all([process.stdout, process.stderr].map(s => new Promise(resolve => {
    if (s.destroyed || !s.writable) resolve(undefined);
    else s.write('', () => resolve(undefined));
  })));
  process.exit(code);
}

void main();
