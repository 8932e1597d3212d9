// Errors a user can act on. The CLI prints a UserError as one line ("procimage: <message>") and exits
// with its code; anything else reaching the top is a bug and keeps its stack.
import { getSystemErrorMap } from 'node:util';

export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

const errnoMap = getSystemErrorMap();

/** "ENOENT (no such file or directory)" for a positive or negative errno. */
export function describeErrno(errno: number): string {
  const e = errnoMap.get(-Math.abs(errno));
  return e ? `${e[0]} (${e[1]})` : `errno ${Math.abs(errno)}`;
}
