// The ctl side of the control socket.
import { connect, type Socket } from 'node:net';
import { UserError } from '../sys/errors.js';
import { DEFAULT_PIN_DIR } from '../sys/paths.js';
import { socketPath, type Request, type Response } from './protocol.js';

/**
 * A connection to the attach owning pinDir, made before there is a request to send: ctl connects as
 * it starts, so that issuing an activation is one write (connecting once it had decided to send took
 * ctl another 2-15 ms, its event loop's first turns), and so that the attach learns early that a
 * request is coming (Session.prepare).
 */
export class ControlConnection {
  /** Resolves once connected; rejects with the one line that says why not. */
  readonly ready: Promise<void>;
  private readonly sock: Socket;
  private readonly timer: NodeJS.Timeout;
  private answer: { resolve: (r: Response & { ok: true }) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  private constructor(readonly pinDir: string, timeoutMs: number) {
    const path = socketPath(pinDir);
    const dirFlag = pinDir === DEFAULT_PIN_DIR ? '' : ` --pin-dir ${pinDir}`;
    this.sock = connect(path);
    let buf = '';
    let connected: () => void, notConnected: (e: Error) => void;
    this.ready = new Promise((resolve, reject) => { connected = resolve; notConnected = reject; });
    this.ready.catch(() => undefined); // surfaced where it is awaited: a flag error may come first
    const fail = (e: Error) => {
      clearTimeout(this.timer);
      this.failure ??= e;
      notConnected(e);
      this.answer?.reject(e);
    };
    this.timer = setTimeout(() => {
      this.sock.destroy();
      fail(new UserError(buf.includes('\n')
        ? `the procimage attach of ${pinDir} answered but had not exited after ${timeoutMs / 1000} s`
        : `the procimage attach of ${pinDir} did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    this.sock.setEncoding('utf8');
    this.sock.on('connect', () => connected());
    this.sock.on('data', d => { buf += d; });
    this.sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        fail(new UserError(`no procimage attach is running for ${pinDir}; start one first: procimage attach -a${dirFlag}`));
      } else if (e.code === 'EACCES') {
        fail(new UserError(`permission denied on ${path}: procimage ctl needs root`));
      } else {
        fail(new UserError(`control socket ${path}: ${e.message}`));
      }
    });
    this.sock.on('end', () => {
      clearTimeout(this.timer);
      let res: Response;
      try {
        res = JSON.parse(buf.trim()) as Response;
      } catch {
        return fail(new UserError(`the procimage attach of ${pinDir} closed the connection without an answer`));
      }
      if (!res.ok) this.answer?.reject(new UserError(res.error));
      else this.answer?.resolve(res);
    });
  }

  static open(pinDir: string, timeoutMs = 30_000): ControlConnection {
    return new ControlConnection(pinDir, timeoutMs);
  }

  /**
   * Sends the request (once connected: await ready first) and resolves with its answer (ok: true),
   * else throws. The answer counts once the attach closes the connection: for finish, that is when
   * its process exits.
   */
  send(req: Request): Promise<Response & { ok: true }> {
    if (this.answer) throw new Error(`one request per connection to the attach of ${this.pinDir}`);
    return new Promise((resolve, reject) => {
      this.answer = { resolve, reject };
      if (this.failure) return reject(this.failure);
      this.sock.write(JSON.stringify(req) + '\n');
    });
  }

  /** Drops the connection without a request (ctl found its flags wrong after connecting). */
  close(): void {
    clearTimeout(this.timer);
    this.sock.destroy();
  }
}
