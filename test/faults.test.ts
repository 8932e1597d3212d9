// Issue 17, faults: each ends in a clear message and a state the next command can use. (SIGINT,
// SIGTERM and SIGKILL of an attach: lifecycle.test.ts; a full disk under a recording: record.test.ts;
// a port taken under trace: cli.test.ts.)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { socketPath } from '../src/control/protocol.js';
import { Attach, CLI, cli, pinnedFiles, tempDir, testPinDir, waitAsleep, waitFor } from './helpers.js';

const live: Attach[] = [];
async function attach(args: string[], pinDir?: string, wrapper?: string[]): Promise<Attach> {
  const a = await Attach.start(args, pinDir, wrapper);
  live.push(a);
  return a;
}
const procs: Array<{ kill: (s: NodeJS.Signals) => boolean }> = [];
afterEach(async () => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  for (const a of live.splice(0)) {
    a.proc.kill('SIGCONT');
    await a.cleanup();
  }
});
const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const oneLine = (s: string) => { expect(s.trim().split('\n')).toHaveLength(1); return s.trim(); };
const noStack = (s: string) => expect(s).not.toMatch(/internal error|^\s+at /m);

function sleeper(): number {
  const p = spawn('sleep', ['60'], { stdio: 'ignore' });
  procs.push(p);
  return p.pid!;
}

/** A background trace, its output collected as it comes. */
function background(args: string[]) {
  const p = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  const t = { out: '', err: '', exited: new Promise<number | null>(r => p.on('close', code => r(code))) };
  p.stdout!.on('data', d => { t.out += d; });
  p.stderr!.on('data', d => { t.err += d; });
  return t;
}

describe('the target of trace -p/-P ends mid-collection', () => {
  it.each([['-P', 'SIGKILL'], ['-p', 'SIGTERM']] as const)('trace %s: a target killed by %s ends the trace with its exit, a note and the summary', async (flag, sig) => {
    const pid = sleeper();
    await waitAsleep(pid, 'sleep');
    // -S every 0.1 s: a first record says collection runs
    const t = background(['trace', '--json', '-k', '0', '-S', '--interval', '0.1', flag, String(pid)]);
    await waitFor(() => t.out.includes('"type":"sched"'), 'collection to run', 20_000);
    process.kill(pid, sig);
    expect(await t.exited).toBe(0);
    expect(t.err).toContain(`procimage: ${flag === '-P' ? 'process' : 'thread'} ${pid} exited: stopped`);
    expect(t.err).toMatch(/── procimage summary/);
    noStack(t.err);
    const exit = t.out.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
      .find(r => r.type === 'exit' && r.pid === pid);
    expect(exit).toMatchObject({ signal_name: sig, process_exit: true });
  });
});

describe('attach under signals and concurrent ctl', () => {
  it('SIGSTOP then SIGCONT: the kernel side goes on recording, a ctl sent meanwhile is answered after, nothing is missing', async () => {
    const a = await attach(['-k', '--json']);
    // numbered execs: a gap in the numbers would be records missing without a word
    const busy = spawn('sh', ['-c', 'i=0; while :; do i=$((i+1)); /bin/true $i; done'], { stdio: 'ignore' });
    procs.push(busy);
    expect((await a.ctl(['-a', '-P', String(busy.pid), '-k', '0'])).code).toBe(0);
    const numbers = () => a.records().filter(r => r.type === 'exec').map(r => Number((r.argv as string[])[1]));
    await waitFor(() => numbers().length >= 10, 'execs');
    a.proc.kill('SIGSTOP');
    const atStop = Math.max(...numbers());
    const status = cli(['ctl', '--status', '--pin-dir', a.pinDir]); // connects, and waits for the stopped attach
    await new Promise(r => setTimeout(r, 1500));
    const atCont = Math.max(...numbers());
    expect(atCont).toBe(atStop); // it was stopped: nothing came out
    a.proc.kill('SIGCONT');
    const st = await status;
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).active.target).toEqual({ kind: 'tgid', tgid: busy.pid });
    // what the target did while the attach was stopped comes out after, from the kernel's ring
    await waitFor(() => Math.max(...numbers()) > atStop + 20, 'the execs made while stopped');
    busy.kill('SIGKILL');
    const d = await a.ctl(['-d']);
    expect(d.code, d.stderr).toBe(0);
    const lost = Number(/(\d+) lost/.exec(d.stdout)![1]);
    const seen = new Set(numbers());
    const first = Math.min(...seen), last = Math.max(...seen);
    const missing = [];
    for (let i = first; i <= last; i++) if (!seen.has(i)) missing.push(i);
    // a gap only where the summary counts records lost (a ring that filled while the attach was stopped)
    if (lost === 0) expect(missing).toEqual([]);
    else expect(a.stderr).toMatch(/^lost +(?!none)/m);
  });

  it('two ctl -a at once: one after the other, the first ended with its summary, the second active', async () => {
    const a = await attach(['-k', '-S', '--json']);
    const [p1, p2] = [sleeper(), sleeper()];
    const [r1, r2] = await Promise.all([a.ctl(['-a', '-P', String(p1)]), a.ctl(['-a', '-P', String(p2)])]);
    expect([r1.code, r2.code], r1.stderr + r2.stderr).toEqual([0, 0]);
    expect(a.stderr.match(/policy change: ending/g)).toHaveLength(1);
    expect(a.stderr.match(/── procimage summary/g)).toHaveLength(1);
    const active = JSON.parse((await a.ctl(['--status'])).stdout).active.target;
    // whichever came second is the one active, and the other's summary is the one printed
    const second = active.tgid as number;
    expect([p1, p2]).toContain(second);
    expect(a.stderr).toMatch(new RegExp(`policy change: ending process ${second === p1 ? p2 : p1} `));
    const d = await a.ctl(['-d']);
    expect(d.code).toBe(0);
    expect(a.stderr.match(/── procimage summary/g)).toHaveLength(2);
  });

  it('ctl -f while an activation is in progress: the activation completes or is refused in one line; the attach finishes cleanly', async () => {
    const a = await attach(['-a', '--json']);
    const pid = sleeper();
    // every category on the process: the lock uprobes make the activation take a while
    const [act, fin] = await Promise.all([a.ctl(['-a', '-P', String(pid)]), a.ctl(['-f'])]);
    expect(fin.code, fin.stderr).toBe(0);
    expect(fin.stdout).toMatch(/^finished: the attach of .* has removed its pins and exited$/m);
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(a.pinDir)).toBe(false);
    noStack(a.stderr);
    if (act.code === 0) {
      expect(act.stdout).toMatch(/^activated: /);
      expect(a.stderr).toMatch(/── procimage summary/); // ended by the finish, with its summary
    } else {
      // refused by the finishing attach; or, reaching it as it exits, after the one line of waiting for it
      const lines = act.stderr.trim().split('\n');
      if (lines.length === 2) expect(lines[0]).toMatch(/^procimage: waiting for the procimage attach of /);
      expect(lines.length).toBeLessThanOrEqual(2);
      expect(lines.at(-1)).toMatch(/^procimage: (the attach of .* is finishing|no procimage attach is running|the procimage attach of .* exited without listening)/);
    }
  });

  it('ctl -d twice: the second says there is nothing to deactivate; the attach is ready and activates again', async () => {
    const a = await attach(['-k', '--json']);
    const pid = sleeper();
    expect((await a.ctl(['-a', '-P', String(pid)])).code).toBe(0);
    expect((await a.ctl(['-d'])).code).toBe(0);
    const again = await a.ctl(['-d']);
    expect(again.code).toBe(1);
    expect(oneLine(again.stderr)).toBe('procimage: not active: nothing to deactivate');
    expect(JSON.parse((await a.ctl(['--status'])).stdout).active).toBe(null);
    expect((await a.ctl(['-a', '-P', String(pid)])).code).toBe(0);
    expect((await a.ctl(['-d'])).code).toBe(0);
  });
});

describe('what is under a running attach changes', () => {
  it('its pin directory removed by hand: ctl still activates, deactivates and finishes; the next attach there starts clean', async () => {
    const a = await attach(['-k', '--json']);
    rmSync(a.pinDir, { recursive: true, force: true });
    expect(existsSync(a.pinDir)).toBe(false);
    const pid = sleeper();
    const act = await a.ctl(['-a', '-P', String(pid)]);
    expect(act.code, act.stderr).toBe(0);
    expect((await a.ctl(['-d'])).code).toBe(0);
    const f = await a.ctl(['-f']);
    expect(f.code, f.stderr).toBe(0);
    expect(await a.exited).toEqual({ code: 0, signal: null });
    noStack(a.stderr);
    expect(existsSync(a.pinDir)).toBe(false);
    const next = await attach(['-k'], a.pinDir);
    expect(next.stderr).not.toMatch(/warning/);
    expect(pinnedFiles(next.pinDir, 'progs')).toEqual(expect.arrayContaining(['keytime_exec', 'keytime_exit', 'keytime_fork', 'keytime_switch']));
  });

  describe('its bpffs unmounted (umount -l)', () => {
    // A bpffs of its own, mounted at a temporary directory in a mount namespace of its own (unshare
    // -m, private propagation): the umount happens there, the host's /sys/fs/bpf is untouched.
    const mnt = join(dir, 'bpffs');
    const pinDir = join(mnt, 'pins');
    const ownBpffs = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount -t bpf bpf "$0" && exec "$@"', mnt];
    const bpffsAt = (pid: number) => readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')
      .some(l => l.split(' ')[4] === mnt && l.split(' - ')[1]?.startsWith('bpf '));

    it.each(['ctl -d then ctl -f', 'SIGINT while active'])('ctl -a still activates; %s ends it cleanly; the next attach there works', async end => {
      mkdirSync(mnt, { recursive: true });
      const a = await attach(['-k', '--json'], pinDir, ownBpffs);
      const pid = a.proc.pid!; // sh execs the attach
      expect(readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
      expect(bpffsAt(pid)).toBe(true);
      expect(existsSync(`/proc/${pid}/root${pinDir}/progs/keytime_exec`)).toBe(true);
      execFileSync('nsenter', ['-t', String(pid), '-m', 'umount', '-l', mnt]);
      expect(bpffsAt(pid)).toBe(false);
      expect(existsSync(`/proc/${pid}/root${pinDir}`)).toBe(false); // its pins went with the mount

      const target = sleeper();
      const act = await a.ctl(['-a', '-P', String(target)]);
      expect(act.code, act.stderr).toBe(0);
      if (end === 'SIGINT while active') {
        a.proc.kill('SIGINT');
      } else {
        const d = await a.ctl(['-d']);
        expect(d.code, d.stderr).toBe(0);
        expect(d.stdout).toMatch(/^deactivated after .*; ready again$/m);
        const f = await a.ctl(['-f']);
        expect(f.code, f.stderr).toBe(0);
        expect(oneLine(f.stdout)).toMatch(/^finished: /);
      }
      expect(await a.exited).toEqual({ code: 0, signal: null });
      expect(a.stderr.match(/── procimage summary/g)).toHaveLength(1);
      noStack(a.stderr);
      expect(existsSync(socketPath(pinDir))).toBe(false);

      // the next attach, with a new bpffs at the same place, starts clean and activates
      const next = await attach(['-k', '--json'], pinDir, ownBpffs);
      expect(next.stderr).not.toMatch(/warning/);
      expect((await next.ctl(['-a', '-P', String(target)])).code).toBe(0);
      expect((await next.ctl(['-f'])).code).toBe(0);
      expect(await next.exited).toEqual({ code: 0, signal: null });
      // and in that directory without a bpffs mounted (as the host sees it), an attach says so in one line
      const r = await cli(['attach', '-k', '--pin-dir', pinDir]);
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr)).toBe(`procimage: --pin-dir ${pinDir} is not on a BPF filesystem: use a directory under /sys/fs/bpf`);
    });
  });

  it('attach --listen on a port taken: one line, and no pin, no socket left behind', async () => {
    const server = createServer();
    await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const pinDir = testPinDir();
    try {
      const r = await cli(['attach', '-k', '--listen', `127.0.0.1:${port}`, '--pin-dir', pinDir]);
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr)).toBe(`procimage: --listen: 127.0.0.1:${port} is already in use`);
      expect(existsSync(pinDir)).toBe(false);
      const st = await cli(['ctl', '--status', '--pin-dir', pinDir]);
      expect(oneLine(st.stderr)).toMatch(/^procimage: no procimage attach is running for /);
    } finally {
      server.close();
    }
  });

  it('the recording deleted while written: said once by the attach and by ctl -d; the next recording works', async () => {
    const a = await attach(['-k', '-S']);
    const pid = sleeper();
    const rec = join(dir, 'deleted.rec');
    expect((await a.ctl(['-a', '-P', String(pid), '-S', '--interval', '0.1', '--record', rec])).code).toBe(0);
    await waitFor(() => existsSync(rec), 'the recording');
    rmSync(rec);
    await new Promise(r => setTimeout(r, 1200)); // a chunk is sealed and written every second
    const d = await a.ctl(['-d']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(new RegExp(`recording ${rec} lost: the file was deleted while it was written`));
    expect(a.stderr.match(/the file was deleted while it was written/g)?.length).toBeGreaterThanOrEqual(1);
    expect(a.stderr.match(/warning: recording .*the file was deleted while it was written: nothing more is written/g)?.length ?? 0).toBeLessThanOrEqual(1);
    noStack(a.stderr);
    // the next activation records again
    const rec2 = join(dir, 'next.rec');
    expect((await a.ctl(['-a', '-P', String(pid), '-S', '--record', rec2])).code).toBe(0);
    const d2 = await a.ctl(['-d']);
    expect(d2.stdout).toMatch(/recorded \d+ records to .*next\.rec/);
    const rep = await cli(['report', '--summary', rec2]);
    expect(rep.code, rep.stderr).toBe(0);
  });
});
