// Stacks of processes that have already exited still symbolize: what a process mapped is recorded as
// it happens (perf's mmap side-band), not read from /proc afterwards, when it is gone.
import { spawn, execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy } from '../src/collect/policy.js';
import type { OffCpuRecord, ProcRecord } from '../src/collect/records.js';
import { Session } from '../src/model/session.js';
import { GATE, tempDir, workload } from './helpers.js';

let session: Session | undefined;
afterEach(() => { session?.close(); session = undefined; });

const gone = (pid: number) => {
  try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] === 'Z'; } catch { return true; }
};

describe('symbolizing after exit', () => {
  it('unwinds and symbolizes the stacks of a process that exited before procimage read its records', async () => {
    session = Session.load({ categories: ['keytime'] });
    const recs: ProcRecord[] = [];
    const dir = tempDir();
    const fifo = join(dir, 'gate');
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, 'r+');
    // a process started after activation (sh forks it): sleeps 20 ms once, then exits
    const p = spawn(GATE, ['3', 'sh', '-c', `${workload('runsleep')} 1 20; exit 0`], { stdio: ['ignore', 'ignore', 'inherit', fd] });
    const done = new Promise(r => p.on('exit', r));
    await session.activate(defaultPolicy({ kind: 'tgid', tgid: p.pid! }, ['keytime']), () => ({ write: r => recs.push(r) }));
    writeSync(fd, 'g');
    closeSync(fd);
    // the event loop is blocked until the whole tree has exited: nothing is read while it lives
    const end = Date.now() + 20_000;
    while (!gone(p.pid!) && Date.now() < end) { /* spin */ }
    await done;
    await session.deactivate();
    rmSync(dir, { recursive: true, force: true });
    const sleep = recs.find((r): r is OffCpuRecord => r.type === 'offcpu' && r.comm === 'runsleep' && r.state === 'S');
    expect(sleep, 'the sleep of runsleep').toBeDefined();
    expect(sleep!.ustack.join('\n')).toMatch(/nanosleep.*\(libc\.so\.6\)[^]*\nb\+0x[0-9a-f]+ \(runsleep\)[^]*\nmain\+/);
  });
});
