// What the user-stack unwinder reads for an activation's processes (their address spaces, the files'
// symbol and debug tables, the mapped ELF files) is freed when the activation ends: the ready state
// holds none of it, however many processes the last activation saw. And it reads local files only.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy } from '../src/collect/policy.js';
import type { OffCpuRecord, ProcRecord } from '../src/collect/records.js';
import { Session } from '../src/model/session.js';
import { waitFor, workload } from './helpers.js';

let session: Session | undefined;
afterEach(() => { session?.close(); session = undefined; });

describe('unwinder memory', () => {
  it('holds address spaces and files while active, none after deactivation, and unwinds again next time', async () => {
    session = Session.load({ categories: ['keytime'] });
    const sleeper = () => spawn(workload('runsleep'), ['1000', '50'], { stdio: 'ignore' }); // killed once seen
    const unwound = (recs: ProcRecord[]) => recs.find((r): r is OffCpuRecord =>
      r.type === 'offcpu' && r.comm === 'runsleep' && r.state === 'S' && r.ustack.some(f => f.startsWith('main+')));

    for (const round of [1, 2]) {
      const p = sleeper();
      const recs: ProcRecord[] = [];
      await session.activate(defaultPolicy({ kind: 'tgid', tgid: p.pid! }, ['keytime']), () => ({ write: r => recs.push(r) }));
      await waitFor(() => unwound(recs), `round ${round}: a sleep of runsleep unwound down to main`);
      const active = session.unwinderUsage()!;
      expect(active.spaces, 'address spaces while active').toBeGreaterThan(0);
      expect(active.symbolFiles, 'files open for symbols while active').toBeGreaterThan(0);
      p.kill();
      await session.deactivate();
      expect(session.unwinderUsage()).toEqual({ spaces: 0, symbolFiles: 0, elfFiles: 0 });
    }
  });

  it('looks for debug info on this machine only: no debuginfod client (libcurl and all) in the process', async () => {
    session = Session.load({ categories: ['keytime'] });
    // coreutils' sleep, started over and over: stripped, its debug info not installed, so libdwfl
    // searches for it when it symbolizes the stacks of its 50 ms sleeps
    const p = spawn('sh', ['-c', 'while :; do sleep 0.05; done'], { stdio: 'ignore' });
    const recs: ProcRecord[] = [];
    await session.activate(defaultPolicy({ kind: 'tgid', tgid: p.pid! }, ['keytime']), () => ({ write: r => recs.push(r) }));
    const sleep = await waitFor(() => recs.find((r): r is OffCpuRecord => r.type === 'offcpu' && r.comm === 'sleep' &&
      r.ustack.some(f => /^sleep\+0x[0-9a-f]+$/.test(f))), 'a symbolized stack of sleep'); // stripped: file offsets
    expect(sleep.ustack.join('\n')).toMatch(/\(libc\.so\.6\)/);
    p.kill();
    await session.deactivate();
    expect(readFileSync('/proc/self/maps', 'utf8')).not.toMatch(/libdebuginfod|libcurl/);
  });
});
