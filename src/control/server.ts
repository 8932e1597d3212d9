// The attach side of the control socket.
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { UserError } from '../sys/errors.js';
import { RUN_DIR } from '../sys/paths.js';
import type { Request, Response } from './protocol.js';

export type Handler = (req: Request) => Promise<Response>;

export class ControlServer {
  private constructor(private readonly server: Server, readonly path: string) {}

  /**
   * Listens on path. The caller holds the pin directory's lock, so a socket file already there
   * belongs to a dead attach: it is removed. onConnection runs as each client connects, before its
   * request arrives.
   */
  static async listen(path: string, handle: Handler, onConnection?: () => void): Promise<ControlServer> {
    mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
    chmodSync(RUN_DIR, 0o700);
    try { unlinkSync(path); } catch { /* none */ }
    const server = createServer({ allowHalfOpen: true }, sock => {
      onConnection?.();
      let buf = '';
      let requested = false;
      sock.setEncoding('utf8');
      sock.on('error', () => sock.destroy());
      // ctl connects as it starts: one that then sends nothing (--help, a wrong flag) hangs up, and
      // a half-open socket would stay open here for good
      sock.on('end', () => { if (!requested) sock.destroy(); });
      sock.on('data', chunk => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        requested = true;
        const line = buf.slice(0, nl);
        buf = '';
        let req: Request;
        try {
          req = JSON.parse(line) as Request;
        } catch {
          sock.end(JSON.stringify({ ok: false, error: 'malformed request' }) + '\n');
          return;
        }
        handle(req).then(
          // finish: the answer goes out, but the connection stays open until this process exits and
          // the kernel closes it: that end is how ctl -f knows the attach is gone, not merely done
          res => (req.op === 'finish' && res.ok ? sock.write(JSON.stringify(res) + '\n') : sock.end(JSON.stringify(res) + '\n')),
          (e: unknown) => sock.end(JSON.stringify({
            ok: false, error: e instanceof Error ? e.message : String(e),
          } satisfies Response) + '\n'),
        );
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', e => reject(new UserError(`control socket ${path}: ${e.message}`)));
      // made 0600 from the start (not chmod-ed after): ctl may look at it the moment it appears
      const umask = process.umask(0o177);
      try {
        server.listen(path, () => resolve());
      } finally {
        process.umask(umask);
      }
    });
    chmodSync(path, 0o600);
    return new ControlServer(server, path);
  }

  /** Stops listening and removes the socket; connections still open end with the process. */
  close(): void {
    this.server.close();
    try { unlinkSync(this.path); } catch { /* gone */ }
  }
}
