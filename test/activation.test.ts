// The activation path on the real kernel: the links made off the event loop (lock's uprobes) are
// attached by the time activate() resolves, a deactivation that arrives meanwhile waits for them,
// and the warm-up a ctl's connection starts leaves nothing attached.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy } from '../src/collect/policy.js';
import type { ProcRecord } from '../src/collect/records.js';
import { Session } from '../src/model/session.js';
import { attachedProgIds, openFds, pinnedFiles, pinnedProgId, testPinDir, waitFor, workload } from './helpers.js';

let session: Session | undefined;
let pinDir: string | undefined;
const targets: ChildProcess[] = [];
afterEach(() => {
  session?.close();
  session = undefined;
  if (pinDir) rmSync(pinDir, { recursive: true, force: true });
  pinDir = undefined;
  for (const t of targets.splice(0)) t.kill('SIGKILL');
});

/** A lock session, pinned so that bpftool can name its programs: their ids by name. */
function lockSession(): Map<string, number> {
  session = Session.load({ categories: ['lock'] });
  pinDir = testPinDir();
  session.pin(pinDir);
  return new Map(pinnedFiles(pinDir, 'progs').map(p => [p, pinnedProgId(`${pinDir}/progs/${p}`)]));
}

/** A process taking mutexes (two threads, for a few seconds: it ends even if a test's end is missed), running. */
async function locker(): Promise<number> {
  const t = spawn(workload('locks'), ['mutex', '2', '40000', '50'], { stdio: 'ignore' });
  targets.push(t);
  await new Promise(r => setTimeout(r, 100));
  return t.pid!;
}

const attached = (ids: Map<string, number>, name: string) => attachedProgIds().has(ids.get(name)!);

/** Pids of the processes that map path (of those this test can see). */
function processesMapping(path: string): number[] {
  return readdirSync('/proc').filter(d => /^\d+$/.test(d)).filter(d => {
    try { return readFileSync(`/proc/${d}/maps`, 'utf8').includes(path); } catch { return false; }
  }).map(Number);
}

describe('the control socket', () => {
  it('closes a connection that hangs up without a request (ctl connects before it checks its flags)', async () => {
    const { ControlServer } = await import('../src/control/server.js');
    const { connect } = await import('node:net');
    const { RUN_DIR } = await import('../src/sys/paths.js');
    let connections = 0;
    const server = await ControlServer.listen(`${RUN_DIR}/test-${process.pid}.sock`, async () => ({ ok: true }), () => connections++);
    try {
      const before = openFds();
      for (let i = 0; i < 10; i++) {
        const s = connect(server.path);
        await new Promise(r => s.once('connect', r));
        s.end();
        await new Promise(r => s.once('close', r));
      }
      expect(connections).toBe(10);
      await waitFor(() => openFds() === before, 'the server side of each connection closed', 2000);
    } finally {
      await server.close();
    }
  });
});

describe('activation', () => {
  it('resolves with the uprobes attached, made off the event loop', async () => {
    const ids = lockSession();
    const pid = await locker();
    const recs: ProcRecord[] = [];
    const a = await session!.activate(defaultPolicy({ kind: 'tgid', tgid: pid }, ['lock']), () => ({ write: r => recs.push(r) }));
    expect(a.hooks).toEqual(expect.arrayContaining(['lock_uprobe', 'lock_uretprobe', 'lock_contention_begin']));
    expect(a.notes).toEqual([]);
    // attached when it says so, not a moment later
    expect(attached(ids, 'lock_uprobe')).toBe(true);
    expect(attached(ids, 'lock_uretprobe')).toBe(true);
    await session!.deactivate();
    expect(recs.some(r => r.type === 'lock' && r.source === 'pthread' && r.tgid === pid), 'a pthread lock record').toBe(true);
    expect([...ids.values()].filter(id => attachedProgIds().has(id))).toEqual([]);
  });

  it('a deactivation that arrives while the uprobes are being made waits for them: nothing is left attached', async () => {
    const ids = lockSession();
    const pid = await locker();
    const activating = session!.activate(defaultPolicy({ kind: 'tgid', tgid: pid }, ['lock']), () => ({ write: () => undefined }));
    const summary = await session!.deactivate(); // not awaiting the activation first
    const a = await activating;
    expect(a.hooks).toContain('lock_uprobe');
    expect(summary, 'the activation it ended').toBeDefined();
    expect(session!.active).toBeUndefined();
    expect([...ids.values()].filter(id => attachedProgIds().has(id))).toEqual([]);
  });

  it('a target that has ended: its uprobes released beside the final poll, its records all read, nothing attached after', async () => {
    const ids = lockSession();
    const t = spawn(workload('locks'), ['mutex', '2', '10000', '50'], { stdio: 'ignore' });
    targets.push(t);
    const exited = new Promise(r => t.once('exit', r)); // reaped: its /proc entry is gone
    await new Promise(r => setTimeout(r, 100));
    const recs: ProcRecord[] = [];
    await session!.activate(defaultPolicy({ kind: 'tgid', tgid: t.pid! }, ['lock']), () => ({ write: r => recs.push(r) }));
    expect(attached(ids, 'lock_uprobe')).toBe(true);
    await exited;
    const summary = await session!.deactivate();
    expect(recs.some(r => r.type === 'lock' && r.source === 'pthread' && r.tgid === t.pid), 'a pthread lock record').toBe(true);
    expect(summary!.records.lock).toBe(recs.filter(r => r.type === 'lock').length);
    expect([...ids.values()].filter(id => attachedProgIds().has(id))).toEqual([]);
  });

  it('a ctl connecting (prepare) registers a uprobe that traps nowhere and drops it: nothing stays attached', async () => {
    const ids = lockSession();
    const before = openFds();
    // lock_uprobe on a file of procimage's own that no process maps, for a moment
    expect(await session!.prepare()).toEqual(['uprobe_multi /run/procimage/uprobe-warmup:0x0']);
    expect(processesMapping('/run/procimage/uprobe-warmup'), 'processes the warm-up uprobe could trap in').toEqual([]);
    expect([...ids.values()].filter(id => attachedProgIds().has(id))).toEqual([]);
    expect(openFds(), 'its link closed').toBeLessThanOrEqual(before);
    // and an activation after it attaches as ever
    const pid = await locker();
    const a = await session!.activate(defaultPolicy({ kind: 'tgid', tgid: pid }, ['lock']), () => ({ write: () => undefined }));
    expect(a.hooks).toContain('lock_uprobe');
    session!.prepare(); // active: nothing to prepare
    await session!.deactivate();
    expect([...ids.values()].filter(id => attachedProgIds().has(id))).toEqual([]);
  });
});

describe('a session loaded for known policies (trace)', () => {
  it('loads only the programs they use, side by side, and activates them', async () => {
    const pid = await locker();
    const policy = defaultPolicy({ kind: 'tgid', tgid: pid }, ['schedule', 'lock']);
    session = await Session.loadAsync({ categories: ['schedule', 'lock'], policies: [policy] });
    const loaded = session.programs().map(p => p.program);
    // schedule's hooks, keytime_fork to follow the target's children, lock's hooks and uprobes
    expect(loaded).toEqual(expect.arrayContaining(['keytime_switch', 'keytime_fork', 'schedule_wakeup', 'lock_uprobe', 'syscall_task_exit']));
    expect(loaded).not.toContain('keytime_exec'); // keytime is not in the policy: nothing of it records
    expect(loaded).not.toContain('keytime_exit');
    const a = await session.activate(policy, () => ({ write: () => undefined }));
    expect(a.hooks).toEqual(expect.arrayContaining(['keytime_switch', 'schedule_wakeup', 'lock_uprobe']));
    expect(await session.deactivate()).toBeDefined();
  });

  it('refuses a policy that needs a program it did not load', async () => {
    session = await Session.loadAsync({ categories: ['schedule'], policies: [defaultPolicy({ kind: 'all' }, ['schedule'])] });
    expect(session.programs().map(p => p.program)).not.toContain('keytime_fork'); // no process to follow
    const pid = await locker();
    await expect(session.activate(defaultPolicy({ kind: 'tgid', tgid: pid }, ['schedule']), () => ({ write: () => undefined })))
      .rejects.toThrow(/keytime_fork not loaded/);
    expect(session.active).toBeUndefined();
  });

  it('refuses a policy with another --stack mode than the one it was loaded for (pi_stack_only)', async () => {
    const pid = await locker();
    const policy = { ...defaultPolicy({ kind: 'tgid', tgid: pid }, ['keytime']), stackMode: 'fp' as const };
    session = await Session.loadAsync({ categories: ['keytime'], policies: [policy] });
    await expect(session.activate({ ...policy, stackMode: 'dwarf' }, () => ({ write: () => undefined })))
      .rejects.toThrow(/loaded for --stack fp alone/);
    expect(session.active).toBeUndefined();
    const a = await session.activate(policy, () => ({ write: () => undefined }));
    expect(a.hooks).toContain('keytime_switch');
    expect(await session.deactivate()).toBeDefined();
  });
});
