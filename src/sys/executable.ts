// What execvp(3) would run for a command name, found before anything is started: `trace -- CMD`
// refuses a CMD that cannot run with one line and a shell's status (127 not found, 126 not
// executable), instead of tracing the gate that fails to exec it.
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from './errors.js';

/** glibc's execvp search path when PATH is unset. */
const DEFAULT_PATH = '/bin:/usr/bin';

/** The file execvp would run for name; throws a UserError (exit 127 or 126) if it would fail. */
export function findExecutable(name: string, path = process.env.PATH ?? DEFAULT_PATH): string {
  const candidates = name.includes('/') ? [name] : path.split(':').map(dir => join(dir || '.', name));
  let denied = false;
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) { denied = true; continue; } // execve of a directory: EACCES
    } catch {
      continue;
    }
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      denied = true;
    }
  }
  throw denied
    ? new UserError(`cannot run ${name}: Permission denied`, 126)
    : new UserError(`cannot run ${name}: No such file or directory`, 127);
}
