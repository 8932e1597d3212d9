// The ctl side of the control socket.
import { connect, type Socket } from 'node:net';
import { UserError } from '../sys/errors.js';
import { DEFAULT_PIN_DIR } from '../sys/paths.js';
import { checkControlTargets, startingAttach } from './ctlcheck.js';
import { socketPath, type Request, type Response } from './protocol.js';
import { removeStaleRunFiles } from './rundir.js';

/**
 * How long ctl waits for an attach that is starting (`attach -a & ctl -a ...`): loading and verifying
 * every category takes 0.5-1 s here, several seconds on a cold or loaded machine.
 * PROCIMAGE_CTL_WAIT_MS changes it (tests of the bound itself).
 */
export const STARTING_WAIT_MS = Number(process.env.PROCIMAGE_CTL_WAIT_MS) > 0 ? Number(process.env.PROCIMAGE_CTL_WAIT_MS) : 10_000;

/**
 * A connection to the attach owning pinDir, made before there is a request to send: ctl connects as
 * it starts, so that issuing an activation is one write (connecting once it had decided to send took
 * ctl another 2-15 ms, its event loop's first turns), and so that the attach learns early that a
 * request is coming (Session.prepare).
 */
export class ControlConnection {
  /** Resolves once connected; rejects with the one line that says why not. */
  readonly ready: Promise<void>;
  private sock: Socket | undefined;
  private readonly timer: NodeJS.Timeout;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private answer: { resolve: (r: Response & { ok: true }) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private buf = '';
  private connected!: () => void;
  private readonly path: string;
  private readonly dirFlag: string;
  /** Until when a starting attach is waited for; set at the first sign of one. */
  private waitUntil: number | undefined;
  private waitedFor: number | undefined;
  private waitStart: number | undefined;
  /** How long ctl waited for a starting attach before it connected (ms; 0 if it did not). */
  waitedMs = 0;

  private constructor(readonly pinDir: string, timeoutMs: number) {
    this.path = socketPath(pinDir);
    this.dirFlag = pinDir === DEFAULT_PIN_DIR ? '' : ` --pin-dir ${pinDir}`;
    this.ready = new Promise((resolve, reject) => { this.connected = resolve; this.notConnected = reject; });
    this.ready.catch(() => undefined); // surfaced where it is awaited: a flag error may come first
    this.timer = setTimeout(() => {
      this.sock?.destroy();
      this.fail(new UserError(this.buf.includes('\n')
        ? `the procimage attach of ${pinDir} answered but had not exited after ${timeoutMs / 1000} s`
        : `the procimage attach of ${pinDir} did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    this.attempt();
  }

  private notConnected!: (e: Error) => void;

  private fail(e: Error): void {
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    this.failure ??= e;
    this.notConnected(e);
    this.answer?.reject(e);
  }

  /** One try at connecting: checked first, each time (what is there may change while an attach starts). */
  private attempt(): void {
    if (this.closed || this.failure) return;
    try {
      checkControlTargets(this.pinDir, this.path);
    } catch (e) {
      return this.fail(e as Error);
    }
    const sock = this.sock = connect(this.path);
    let isConnected = false;
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      isConnected = true;
      if (this.waitStart !== undefined) this.waitedMs = Date.now() - this.waitStart;
      this.connected();
    });
    sock.on('data', d => { this.buf += d; });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (!isConnected && (e.code === 'ENOENT' || e.code === 'ECONNREFUSED')) {
        void this.noListener();
      } else if (e.code === 'EACCES') {
        this.fail(new UserError(`permission denied on ${this.path}: procimage ctl needs root`));
      } else if (isConnected && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
        // the attach closed its end with the request in flight: it is on its way out (ctl -f, a signal)
        this.fail(new UserError(`the attach of ${this.pinDir} is finishing or has exited: it closed the connection without an answer`));
      } else {
        this.fail(new UserError(`control socket ${this.path}: ${e.message}`));
      }
    });
    sock.on('end', () => {
      clearTimeout(this.timer);
      let res: Response;
      try {
        res = JSON.parse(this.buf.trim()) as Response;
      } catch {
        return this.fail(new UserError(`the procimage attach of ${this.pinDir} closed the connection without an answer`));
      }
      if (!res.ok) this.answer?.reject(new UserError(res.error));
      else this.answer?.resolve(res);
    });
  }

  /**
   * Nothing listens on the socket: an attach that is starting is waited for (a bounded time, said
   * once on stderr); otherwise what dead attaches left is removed and ctl says no attach runs.
   */
  private async noListener(): Promise<void> {
    if (this.closed || this.failure) return;
    const starting = startingAttach(this.pinDir);
    if (starting !== undefined) {
      if (this.waitUntil === undefined) {
        this.waitStart = Date.now();
        this.waitUntil = this.waitStart + STARTING_WAIT_MS;
        this.waitedFor = starting;
        process.stderr.write(`procimage: waiting for the procimage attach of ${this.pinDir} (pid ${starting}), which is starting ` +
          `(up to ${STARTING_WAIT_MS / 1000} s)\n`);
      }
      if (Date.now() < this.waitUntil) {
        this.retry = setTimeout(() => this.attempt(), 50);
        return;
      }
      return this.fail(new UserError(`the procimage attach of ${this.pinDir} (pid ${starting}) did not listen on ${this.path} ` +
        `within ${STARTING_WAIT_MS / 1000} s of starting; see its output`));
    }
    await removeStaleRunFiles();
    this.fail(new UserError(this.waitUntil !== undefined
      ? `the procimage attach of ${this.pinDir} (pid ${this.waitedFor}) exited without listening; see its output`
      : `no procimage attach is running for ${this.pinDir}; start one first: procimage attach -a${this.dirFlag}`));
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
      this.sock!.write(JSON.stringify(req) + '\n');
    });
  }

  /** Drops the connection without a request (ctl found its flags wrong after connecting). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    this.sock?.destroy();
  }
}
