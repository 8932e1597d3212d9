// The ctl side of the control socket.
import { connect } from 'node:net';
import { UserError } from '../sys/errors.js';
import { DEFAULT_PIN_DIR } from '../sys/paths.js';
import { socketPath, type Request, type Response } from './protocol.js';

/**
 * Sends one request to the attach owning pinDir and returns its answer (ok: true), else throws. The
 * answer counts once the attach closes the connection: for finish, that is when its process exits.
 */
export function request(pinDir: string, req: Request, timeoutMs = 30_000): Promise<Response & { ok: true }> {
  const path = socketPath(pinDir);
  const dirFlag = pinDir === DEFAULT_PIN_DIR ? '' : ` --pin-dir ${pinDir}`;
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new UserError(buf.includes('\n')
        ? `the procimage attach of ${pinDir} answered but had not exited after ${timeoutMs / 1000} s`
        : `the procimage attach of ${pinDir} did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', d => { buf += d; });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        reject(new UserError(`no procimage attach is running for ${pinDir}; start one first: procimage attach -a${dirFlag}`));
      } else if (e.code === 'EACCES') {
        reject(new UserError(`permission denied on ${path}: procimage ctl needs root`));
      } else {
        reject(new UserError(`control socket ${path}: ${e.message}`));
      }
    });
    sock.on('end', () => {
      clearTimeout(timer);
      let res: Response;
      try {
        res = JSON.parse(buf.trim()) as Response;
      } catch {
        return reject(new UserError(`the procimage attach of ${pinDir} closed the connection without an answer`));
      }
      if (!res.ok) reject(new UserError(res.error));
      else resolve(res);
    });
  });
}
