// What ctl checks before it talks to an attach, and how it recognises one that is still starting.
// Light on purpose (ctl loads no libbpf): a few lstats, /proc/locks, and /proc/PID/cmdline only on
// the path where no attach answered.
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../sys/errors.js';
import { lockHolder } from '../sys/flocks.js';
import { DEFAULT_PIN_DIR } from '../sys/paths.js';
import { MARKER, readMarker } from './pinmarker.js';

const me = () => process.geteuid?.() ?? 0;
/** Root's, or this user's: what a ctl may trust (a ctl without root then fails on permissions, and says it needs root). */
const trusted = (uid: number) => uid === 0 || uid === me();

/**
 * Refuses (one line) a pin directory that procimage did not make or that another user owns, and a
 * control socket (or the directory holding it) that another user owns or could have replaced: ctl
 * runs as root and sends an attach what to trace, so it talks only to what root's procimage made.
 * What does not exist yet passes: an attach may be starting (the caller waits for it).
 */
export function checkControlTargets(pinDir: string, socket: string): void {
  const dir = lstatOrUndefined(pinDir);
  if (dir) {
    if (!dir.isDirectory()) throw new UserError(`${pinDir} is not a directory: not a procimage pin directory`);
    if (!trusted(dir.uid)) throw new UserError(`refusing ${pinDir}: owned by uid ${dir.uid}, not by root: procimage did not make it`);
    // a starting attach makes the directory, then takes its lock, then marks it
    if (!readMarker(join(pinDir, MARKER)) && startingAttach(pinDir) === undefined) {
      throw new UserError(`refusing ${pinDir}: not a procimage pin directory (no ${MARKER} mark in it): procimage did not make it`);
    }
  }
  const run = lstatOrUndefined(dirname(socket));
  if (run) {
    if (!run.isDirectory() || !trusted(run.uid) || (run.mode & 0o022) !== 0) {
      throw new UserError(`refusing ${dirname(socket)}: ${run.isDirectory() ? '' : 'not a directory, '}owned by uid ${run.uid}, ` +
        `mode ${(run.mode & 0o777).toString(8)}: procimage makes it root's, 0700`);
    }
  }
  const sock = lstatOrUndefined(socket);
  if (sock) {
    if (!sock.isSocket()) throw new UserError(`refusing ${socket}: not a socket: procimage did not make it`);
    if (!trusted(sock.uid)) throw new UserError(`refusing ${socket}: owned by uid ${sock.uid}, not by root: procimage did not make it`);
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The pid of a procimage attach that is starting for pinDir (has not yet listened on its control
 * socket), if there is one: the holder of the pin directory's lock, or, before the directory is
 * made, a process whose command line is `procimage attach ... [--pin-dir pinDir]`.
 */
export function startingAttach(pinDir: string): number | undefined {
  const want = resolve(pinDir);
  const holder = lockHolder(want);
  if (holder !== undefined && holder !== process.pid) return holder;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      const dir = attachPinDir(argv);
      if (dir !== undefined && resolve(readlinkSync(`/proc/${e}/cwd`), dir) === want) return Number(e);
    } catch { /* gone meanwhile */ }
  }
  return undefined;
}

/**
 * The --pin-dir of a procimage attach command line (the default if none is given), else undefined:
 * `[sh] .../bin/procimage [options] attach ...` (the launcher script) or `node [flags]
 * .../dist/bundle/main.js [options] attach ...` (what it execs).
 */
export function attachPinDir(argv: string[]): string | undefined {
  const i = argv.findIndex(a => basename(a) === 'procimage' || /\/dist\/(?:bundle|cli)\/main\.js$/.test(a));
  if (i < 0) return undefined;
  const rest = argv.slice(i + 1);
  const sub = rest.findIndex(a => !a.startsWith('-'));
  if (sub < 0 || rest[sub] !== 'attach') return undefined;
  let dir = DEFAULT_PIN_DIR;
  for (let j = sub + 1; j < rest.length; j++) {
    if (rest[j] === '--') break;
    if (rest[j] === '--pin-dir' && j + 1 < rest.length) dir = rest[++j];
    else if (rest[j].startsWith('--pin-dir=')) dir = rest[j].slice('--pin-dir='.length);
  }
  return dir;
}
