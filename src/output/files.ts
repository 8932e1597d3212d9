// Files procimage writes for people to keep (recordings, exports): they hold command lines and
// stacks, so they are created mode 0600; a regular file already there is replaced; a symlink is never
// followed (root writing through a link someone else planted); anything else is refused. One line
// (a UserError) for what is wrong.
import { constants, fchmodSync, lstatSync, openSync, unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeErrno, UserError } from '../sys/errors.js';

/** Creates FILE for writing; returns its absolute path and file descriptor. `what`: "record to", "write". */
export function createPrivateFile(file: string, what = 'write'): { path: string; fd: number } {
  const path = resolve(file);
  try {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw new UserError(`cannot ${what} ${file}: it is a directory`);
    if (st && !st.isFile() && !st.isSymbolicLink()) throw new UserError(`cannot ${what} ${file}: not a regular file`);
    if (st) unlinkSync(path);
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    fchmodSync(fd, 0o600); // whatever the umask (libuv opens every file close-on-exec)
    return { path, fd };
  } catch (e) {
    if (e instanceof UserError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new UserError(`cannot ${what} ${file}: ${err.errno ? describeErrno(err.errno) : err.message}`);
  }
}
