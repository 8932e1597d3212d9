// Typed errors of the binding, after cilium/ebpf's internal/errors.go: each carries its cause, and
// its message is the one line a user needs (the verifier's last words, the missing feature's name).
import { describeErrno } from '../sys/errors.js';
import { errno as lastErrno, helper } from './ffi.js';

/**
 * A libbpf call failed. `errno` is positive; `log` holds what libbpf printed meanwhile. The message
 * is "<op>: <detail>", detail defaulting to the errno's name and text.
 */
export class BpfError extends Error {
  constructor(readonly op: string, readonly errno: number, readonly log = '', detail?: string) {
    super(`${op}: ${detail ?? describeErrno(errno)}`);
    this.name = 'BpfError';
  }
}

/** The verifier refused a program; `log` is its full log, the message its last meaningful line. */
export class VerifierError extends BpfError {
  constructor(readonly program: string, errno: number, log: string) {
    super(`verifier rejected program ${program}`, errno, log, verifierReason(log));
    this.name = 'VerifierError';
  }
}

/** The kernel lacks something a program or attach needs; `feature` names it for the user. */
export class UnsupportedFeatureError extends BpfError {
  constructor(readonly feature: string, errno: number, detail?: string) {
    super(`this kernel does not support ${feature}`, errno, '', detail ?? describeErrno(errno));
    this.name = 'UnsupportedFeatureError';
  }
}

/** The verifier's reason: the last line before its statistics ("processed N insns ..."). */
export function verifierReason(log: string): string {
  const lines = log.split('\n').map(l => l.trim()).filter(Boolean);
  const stats = lines.findLastIndex(l => l.startsWith('processed ') || l.startsWith('verification time'));
  const before = (stats > 0 ? lines.slice(0, stats) : lines).filter(l => !l.startsWith(';') && !/^\d+: \(/.test(l));
  return before.at(-1) ?? 'no verifier log';
}

/** What libbpf printed since the last call (warnings and info), via the helper's capture buffer. */
export function takeLibbpfLog(): string {
  const buf = Buffer.alloc(1 << 20);
  const n = Number(helper().log_take(buf, buf.length));
  return buf.toString('utf8', 0, n);
}

let logInstalled = false;
/** Routes libbpf's printing into the capture buffer; done once, before the first libbpf call. */
export function captureLibbpfLog(level: 0 | 1 | 2 = 1): void {
  if (logInstalled) return;
  helper().log_install(level);
  logInstalled = true;
}

/** Throws a BpfError for a libbpf int return (< 0 is -errno). */
export function checkInt(op: string, r: number): number {
  if (r < 0) throw new BpfError(op, -r, takeLibbpfLog());
  return r;
}

/** Throws a BpfError for a libbpf pointer return (NULL sets errno). */
export function checkPtr<T>(op: string, p: T | null): T {
  if (p === null || p === undefined || (p as unknown) === 0n) {
    const e = lastErrno();
    throw new BpfError(op, e || 22, takeLibbpfLog());
  }
  return p;
}
