// `procimage ctl`: change the policy of a running `attach` from another shell. Deliberately light
// (no libbpf, no koffi): its start-up time is part of what a user waits for.
import { performance } from 'node:perf_hooks';
import { CATEGORIES, OFFCPU_MIN_DEFAULT_NS, TOP_DEFAULT, defaultPolicy, validatePolicy, type Policy } from '../collect/policy.js';
import { ControlConnection } from '../control/client.js';
import { UserError } from '../sys/errors.js';
import { categoriesOf, checkTargetExists, checkTop, targetOf, type PolicyFlags } from './options.js';
import { cpus } from 'node:os';
import { resolve } from 'node:path';

export interface CtlFlags extends PolicyFlags {
  activate?: boolean; deactivate?: boolean; finish?: boolean; status?: boolean;
  time?: number; pinDir: string; json?: boolean;
  /** -a --record FILE: the attach records the activation to FILE (taken from ctl's working directory). */
  record?: string;
}

const ms = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`;

/** early: a connection main() opened before the flags were parsed, to the pin dir it read. */
export async function runCtl(f: CtlFlags, early?: ControlConnection): Promise<number> {
  const ops = (['activate', 'deactivate', 'finish', 'status'] as const).filter(o => f[o]);
  if (ops.length !== 1) throw new UserError('give exactly one of -a (activate), -d (deactivate), -f (finish), --status');
  const op = ops[0];
  const policyGiven = targetOf(f) !== undefined || categoriesOf(f).length > 0 || f.myproc || f.time !== undefined ||
    f.interval !== undefined || f.stack !== undefined || f.top !== undefined || f.offcpuMin !== undefined;
  if (op !== 'activate' && policyGiven) throw new UserError(`targets and categories go with -a, not with ${op === 'status' ? '--status' : `-${op[0]}`}`);
  if (op !== 'activate' && f.record !== undefined) throw new UserError('--record goes with -a: the attach records that activation');

  // connected before the flags were checked (by main, or else now): the request is then one write
  let conn = early;
  if (conn?.pinDir !== f.pinDir) {
    conn?.close();
    conn = ControlConnection.open(f.pinDir);
  }
  try {
    return await send(op, f, conn);
  } finally {
    conn.close();
  }
}

async function send(op: 'activate' | 'deactivate' | 'finish' | 'status', f: CtlFlags, conn: ControlConnection): Promise<number> {
  if (op === 'activate') {
    checkTop(f, targetOf(f) !== undefined, categoriesOf(f));
    const target = targetOf(f) ?? { kind: 'all' as const };
    checkTargetExists(target);
    const policy: Policy = { ...defaultPolicy(target, categoriesOf(f)), keytimeMode: (f.keytime ?? 0) as 0 | 1,
      syscallSeqLen: f.syscall ?? 10, myproc: !!f.myproc, maxSeconds: f.time ?? 0, intervalSec: f.interval ?? 1,
      stackMode: f.stack ?? 'dwarf', topN: f.top ?? TOP_DEFAULT, offcpuMinNs: f.offcpuMin ?? OFFCPU_MIN_DEFAULT_NS };
    // the attach fills in "every category it loaded" when none is given; everything else is
    // checked here, so that a bad value is refused before it reaches the attach
    validatePolicy(policy.categories.length ? policy : { ...policy, categories: [...CATEGORIES] }, cpus().length);
    await conn.ready;
    // the instant it is issued: ctl's start-up, connecting included, comes before (reported beside it)
    const startupMs = performance.now();
    const issuedNs = process.hrtime.bigint();
    const record = f.record !== undefined ? resolve(f.record) : undefined;
    const res = await conn.send({ op, policy, issuedNs: issuedNs.toString(), ...(record !== undefined ? { record } : {}) });
    if (f.json) {
      const { ok: _, ...rest } = res;
      console.log(JSON.stringify({ ...rest, issued_ns: issuedNs.toString(), ctl_startup_ms: startupMs, ctl_waited_ms: conn.waitedMs }));
      return 0;
    }
    console.log(`activated: ${res.description}`);
    if (record !== undefined) console.log(`  recording to ${record} (ended with the summary at ctl -d)`);
    console.log(`  collecting ${ms(res.collecting_after_issue_ns as number)} after ctl issued it ` +
      `(ctl's own start-up before that: ${startupMs.toFixed(0)} ms${conn.waitedMs ? `, ${conn.waitedMs} ms of it waiting for the attach to start` : ''}); ` +
      `attached: ${(res.hooks as string[]).join(', ')}`);
    for (const n of (res.notes as string[] | undefined) ?? []) console.log(`  note: ${n}`);
    return 0;
  }
  await conn.ready;
  const res = await conn.send({ op });
  if (f.json) {
    const { ok: _, ...rest } = res;
    console.log(JSON.stringify(rest));
  } else if (op === 'deactivate') {
    const recs = Object.values(res.records as Record<string, number>).reduce((a, b) => a + b, 0);
    const lost = Object.values(res.lost as Record<string, number>).reduce((a, b) => a + b, 0);
    console.log(`deactivated after ${((res.duration_ns as number) / 1e9).toFixed(3)} s: ${recs} records, ${lost} lost; ready again`);
    const rec = res.recording as { path: string; records: number; bytes: number; error?: string; gone?: boolean } | undefined;
    if (rec?.gone) {
      console.log(`  recording ${rec.path} lost: the file was deleted while it was written (with the ${rec.records} records written to it)`);
    } else if (rec) {
      console.log(`  recorded ${rec.records} records to ${rec.path} (${rec.bytes} bytes)${rec.error ? `, incomplete: ${rec.error}` : ''}; ` +
        `read it with: procimage report ${rec.path}`);
    }
  } else if (op === 'finish') {
    console.log(`finished: the attach of ${f.pinDir} (pid ${res.pid}) has removed its pins and exited`);
  } else {
    console.log(JSON.stringify(res, (k, v) => (k === 'ok' ? undefined : v), 2));
  }
  return 0;
}
