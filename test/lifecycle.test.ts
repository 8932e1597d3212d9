// The two-phase lifecycle (SPEC "Two-phase use") on the real kernel: attach pins and waits attached to
// nothing; ctl activates, deactivates and finishes; a killed attach leaves pins the next one cleans.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Attach, CLI, GatedChild, attachedProgIds, cli, pinnedFiles, pinnedProg, pinnedProgId, testPinDir, waitFor } from './helpers.js';

const live: Attach[] = [];
async function attach(args: string[], pinDir?: string): Promise<Attach> {
  const a = await Attach.start(args, pinDir);
  live.push(a);
  return a;
}
afterEach(async () => {
  for (const a of live.splice(0)) await a.cleanup();
});

/** The process has exited: gone, or a zombie its parent has not reaped yet. */
function exitedOrZombie(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] === 'Z';
  } catch {
    return true;
  }
}

/** Ids of the programs pinned under an attach's pin dir. */
function procimageProgIds(a: Attach): number[] {
  return pinnedFiles(a.pinDir, 'progs').map(p => pinnedProgId(`${a.pinDir}/progs/${p}`));
}

describe('attach', () => {
  it.each(['-k', '-a'])('attach %s pins every program and map under one directory and attaches nothing in the ready state', async flag => {
    const a = await attach([flag, '--json']);
    const progs = pinnedFiles(a.pinDir, 'progs');
    expect(pinnedFiles(a.pinDir, 'maps')).toEqual(expect.arrayContaining(['pi_events', 'pi_follow', 'pi_lost', 'pi_policy']));
    if (flag === '-k') {
      // (keytime_tasks: a task iterator, read at deactivation, never a hook; and the two that keep a cgroup or
      // container target's threads: attached only for those)
      expect(progs).toEqual(['keytime_cgroup_attach', 'keytime_exec', 'keytime_exit', 'keytime_fork', 'keytime_member_exec', 'keytime_migrate',
        'keytime_switch', 'keytime_tasks', 'keytime_waking']);
    } else {
      // every category's programs: BTF tracepoints, uprobes, classic tracepoints, the task iterator
      expect(progs).toEqual(expect.arrayContaining(['keytime_switch', 'lock_uprobe', 'futex_enter', 'resource_iter', 'syscall_enter', 'schedule_wakeup']));
      expect([...new Set(progs.map(p => pinnedProg(`${a.pinDir}/progs/${p}`).type))]).toEqual(expect.arrayContaining(['tracing', 'kprobe', 'tracepoint']));
    }
    // the kernel's own view: none of procimage's programs is behind any link or perf event
    const ours = procimageProgIds(a);
    expect(ours).toHaveLength(progs.length);
    const attached = attachedProgIds();
    expect(progs.filter((_, i) => attached.has(ours[i]))).toEqual([]);

    // and the same view does see them once active: each hook ctl reports is attached in the kernel
    const sleeper = spawn('sleep', ['30']);
    try {
      const act = await a.ctl(['-a', '-P', String(sleeper.pid)]);
      expect(act.code, act.stderr).toBe(0);
      const hooks = /attached: (.*)$/m.exec(act.stdout)![1].split(', ');
      expect(hooks).toEqual(expect.arrayContaining(flag === '-k' ? ['keytime_exec', 'keytime_exit', 'keytime_fork', 'keytime_switch']
        : ['keytime_switch', 'lock_uprobe', 'syscall_enter']));
      expect(hooks).not.toContain('keytime_cgroup_attach'); // a process target
      const active = attachedProgIds();
      expect(hooks.filter(h => !active.has(pinnedProgId(`${a.pinDir}/progs/${h}`)))).toEqual([]);
      expect((await a.ctl(['-d'])).code).toBe(0);
      const after = attachedProgIds();
      expect(progs.filter((_, i) => after.has(ours[i]))).toEqual([]);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('activates on a child it did not start, sees its exec and exit code, deactivates, and finishes', async () => {
    const a = await attach(['-k', '--json']);
    const child = new GatedChild(['sh', '-c', 'exit 7']);
    const act = await a.ctl(['-a', '-P', String(child.pid), '-k', '0']);
    expect(act.stderr).toBe('');
    expect(act.code).toBe(0);
    expect(act.stdout).toMatch(/activated: process \d+ and the processes it starts: keytime \(-k 0\)/);
    expect(act.stdout).toMatch(/collecting [\d.]+ ms after ctl issued it/);
    // active: exactly keytime's hooks are attached (fork, exec, exit, sched_switch, sched_waking, sched_migrate_task)
    const attached = attachedProgIds();
    expect(procimageProgIds(a).filter(id => attached.has(id))).toHaveLength(6);

    child.open();
    await child.exited;
    const exit = await waitFor(() => a.records().find(r => r.type === 'exit' && r.pid === child.pid), 'exit record');
    expect(exit).toMatchObject({ tgid: child.pid, exit_code: 7, signal: null, process_exit: true, comm: 'sh' });
    const exec = a.records().find(r => r.type === 'exec' && r.pid === child.pid);
    expect(exec).toMatchObject({ filename: expect.stringMatching(/sh$/), argv: ['sh', '-c', 'exit 7'] });
    expect(Number(exec!.ts_ns)).toBeLessThan(Number(exit.ts_ns));

    const d = await a.ctl(['-d']);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/deactivated after [\d.]+ s: \d+ records, 0 lost; ready again/);
    const afterDeactivate = attachedProgIds();
    for (const id of procimageProgIds(a)) expect(afterDeactivate.has(id)).toBe(false);

    const f = await a.ctl(['-f']);
    expect(f.code).toBe(0);
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(a.pinDir)).toBe(false);
    expect(a.stderr).toMatch(/── procimage summary/);
  });

  it('reports the signal of a target killed by one', async () => {
    const a = await attach(['-k', '--json']);
    const sleeper = spawn('sleep', ['30']);
    expect((await a.ctl(['-a', '-P', String(sleeper.pid), '-k', '0'])).code).toBe(0);
    sleeper.kill('SIGKILL');
    const exit = await waitFor(() => a.records().find(r => r.type === 'exit' && r.pid === sleeper.pid), 'exit record');
    expect(exit).toMatchObject({ exit_code: null, signal: 9, signal_name: 'SIGKILL', process_exit: true, comm: 'sleep' });
  });

  it('ctl -a while active changes the policy: the old activation ends with its summary, the new one runs', async () => {
    const a = await attach(['-k', '--json']);
    const first = spawn('sleep', ['30']);
    const second = new GatedChild(['sh', '-c', 'exit 9']);
    try {
      expect((await a.ctl(['-a', '-P', String(first.pid)])).code).toBe(0);
      const r = await a.ctl(['-a', '-P', String(second.pid)]);
      expect(r.code).toBe(0);
      expect(a.stderr).toMatch(/policy change: ending process \d+/);
      expect(a.stderr.match(/── procimage summary/g)).toHaveLength(1);
      first.kill('SIGKILL'); // no longer a target: its exit must not be recorded
      second.open();
      await second.exited;
      await waitFor(() => a.records().find(x => x.type === 'exit' && x.pid === second.pid), 'exit of the new target');
      // the first activation saw it asleep throughout (one interval, at its end); nothing after that
      expect(a.records().filter(x => x.pid === first.pid)).toMatchObject([{ type: 'offcpu', state: 'S', began_before_activation: true, ongoing: true }]);
      const status = JSON.parse((await a.ctl(['--status'])).stdout);
      expect(status.active.target).toEqual({ kind: 'tgid', tgid: second.pid });
    } finally {
      first.kill('SIGKILL');
    }
  });

  it('-t ends collection on its own and returns to the ready state', async () => {
    // one process of our own as the target: what -t does cannot depend on how much everything else
    // on the machine does (every thread, with stacks, made deactivation's hand-over take seconds on
    // a loaded machine)
    const sleeper = spawn('sh', ['-c', 'while :; do sleep 0.05; done']);
    try {
      const a = await attach(['-k', '--json']);
      const t0 = Date.now();
      expect((await a.ctl(['-a', '-P', String(sleeper.pid), '-k', '0', '-t', '0.5'])).code).toBe(0);
      await waitFor(() => a.stderr.includes('time is up'), '-t expiry', 5000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
      // the note comes when the time is up; the ready state once deactivation has handed everything over
      await waitFor(async () => JSON.parse((await a.ctl(['--status'])).stdout).active === null, 'the ready state', 5000);
      expect(a.stdout).toContain('"type":"offcpu"');
      const attached = attachedProgIds();
      for (const id of procimageProgIds(a)) expect(attached.has(id)).toBe(false);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('ctl -f returns once the attach has exited and its pins are gone', async () => {
    const busy = spawn('sh', ['-c', 'while :; do /bin/true; done']);
    try {
      for (const active of [false, true]) { // ready; and active, with records still to flush
        const a = await attach(['-k', '--json']);
        const pid = a.proc.pid!;
        if (active) {
          expect((await a.ctl(['-a', '-P', String(busy.pid), '-k', '1'])).code).toBe(0);
          await waitFor(() => a.stdout.includes('"type":"exit"'), 'records');
        }
        const f = await a.ctl(['-f']);
      // before anything else runs: the test's own reaping of the child may not have happened yet
        const state = exitedOrZombie(pid);
        const pinsGone = !existsSync(a.pinDir);
        expect(f.code, f.stderr).toBe(0);
        expect(state, `attach exited (active: ${active})`).toBe(true);
        expect(pinsGone).toBe(true);
        expect(f.stdout).toBe(`finished: the attach of ${a.pinDir} (pid ${pid}) has removed its pins and exited\n`);
        expect(await a.exited).toEqual({ code: 0, signal: null });
        if (active) expect(a.stderr).toMatch(/── procimage summary/);
      }
    } finally {
      busy.kill('SIGKILL');
    }
  });

  it.each([['SIGINT', 'Ctrl-C'], ['SIGTERM', 'kill']] as const)('%s (%s) flushes every record, prints the summary and removes the pins', async (sig, _how) => {
    const a = await attach(['-k', '--json']);
    const busy = spawn('sh', ['-c', 'while :; do /bin/true; sleep 0.01; done']);
    try {
      expect((await a.ctl(['-a', '-P', String(busy.pid)])).code).toBe(0);
      await waitFor(() => a.records().filter(r => r.type === 'exit').length >= 3, 'records');
      a.proc.kill(sig);
      expect(await a.exited).toEqual({ code: 0, signal: null });
    } finally {
      busy.kill('SIGKILL');
    }
    expect(a.stderr).toContain(`procimage: ${sig}: finishing`);
    expect(a.stderr).toMatch(/── procimage summary/);
    expect(a.stderr).not.toMatch(/internal error|^\s+at /m);
    // what the summary counted is what was printed, type by type
    const counted = Object.fromEntries(/^records +(.*)$/m.exec(a.stderr)![1].split(', ').map(t => t.split(' ')).map(([t, n]) => [t, Number(n)]));
    const printed: Record<string, number> = {};
    for (const r of a.records()) if (r.type !== 'lost') printed[r.type as string] = (printed[r.type as string] ?? 0) + 1;
    expect(counted.exit).toBeGreaterThanOrEqual(3);
    expect(printed).toEqual(counted);
    expect(existsSync(a.pinDir)).toBe(false);
  });

  it('a SIGKILLed attach leaves pins that the next attach cleans, with a warning', async () => {
    const pinDir = testPinDir();
    const first = await attach(['-k'], pinDir);
    first.proc.kill('SIGKILL');
    await first.exited;
    expect(pinnedFiles(pinDir, 'progs')).toHaveLength(9); // pins outlive a killed process
    const second = await attach(['-k'], pinDir);
    expect(second.stderr).toMatch(/warning: removed stale pins from .*did not exit cleanly/);
    expect(pinnedFiles(pinDir, 'progs')).toHaveLength(9);
    expect((await second.ctl(['-f'])).code).toBe(0);
    expect(existsSync(pinDir)).toBe(false);
  });

  it('refuses a pin directory a live attach holds, naming its pid', async () => {
    const first = await attach(['-k']);
    const r = await cli(['attach', '-k', '--pin-dir', first.pinDir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`procimage: ${first.pinDir} is in use by a running procimage attach (pid ${first.proc.pid}); ` +
      `stop it with: procimage ctl -f --pin-dir ${first.pinDir}`);
    // and the first one is untouched
    expect(pinnedFiles(first.pinDir, 'progs')).toHaveLength(9);
  });

  it("refuses procimage's own process as a target unless -m", async () => {
    const a = await attach(['-k', '--json']);
    const r = await a.ctl(['-a', '-P', String(a.proc.pid)]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`procimage: ${a.proc.pid} is procimage's own process: add -m to trace it`);
    expect((await a.ctl(['-a', '-P', String(a.proc.pid), '-m'])).code).toBe(0);
  });

  it('refuses a category that was not attached', async () => {
    const a = await attach(['-k']);
    const r = await a.ctl(['-a', '-S']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^procimage: .*schedule.*not/);
  });
});

describe('ctl', () => {
  it('fails clearly when no attach is running', async () => {
    const r = await cli(['ctl', '-d', '--pin-dir', testPinDir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^procimage: no procimage attach is running for .*; start one first: procimage attach -a --pin-dir/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('`attach & ctl -a` (no sleep): ctl waits for the starting attach, says so once, and activates', async () => {
    const sleeper = spawn('sleep', ['30']);
    // started, not waited for: ctl runs while the attach loads, before its control socket listens
    const a = new Attach(testPinDir(), ['-a', '--json']);
    live.push(a);
    try {
      const r = await a.ctl(['-a', '-P', String(sleeper.pid), '-k', '0']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^activated: process \d+ and the processes it starts/);
      // at most the one line saying it waited (a fast attach may have been ready already), and nothing else
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines.length).toBeLessThanOrEqual(1);
      for (const l of lines) expect(l).toBe(`procimage: waiting for the procimage attach of ${a.pinDir} (pid ${a.proc.pid}), which is starting (up to 10 s)`);
      expect(JSON.parse((await a.ctl(['--status'])).stdout).active.target).toEqual({ kind: 'tgid', tgid: sleeper.pid });
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('waits a bounded time for an attach that does not come up, and names it', async () => {
    const pinDir = testPinDir();
    // a process whose command line is that of an attach of pinDir, which never listens
    const fake = spawn('sh', ['-c', 'sleep 30; :', 'procimage', 'attach', '-k', '--pin-dir', pinDir]);
    try {
      const r = await cli(['ctl', '--status', '--pin-dir', pinDir], { env: { ...process.env, PROCIMAGE_CTL_WAIT_MS: '600' } });
      expect(r.code).toBe(1);
      const lines = r.stderr.split('\n');
      expect(lines).toHaveLength(3); // two lines and the last newline
      expect(lines[0]).toBe(`procimage: waiting for the procimage attach of ${pinDir} (pid ${fake.pid}), which is starting (up to 0.6 s)`);
      expect(lines[1]).toMatch(new RegExp(`^procimage: the procimage attach of ${pinDir} \\(pid ${fake.pid}\\) did not listen on ` +
        '/run/procimage/\\w+\\.sock within 0\\.6 s of starting; see its output$'));
      // one that exits while ctl waits: ctl stops waiting at once
      const waiting = spawn(CLI, ['ctl', '--status', '--pin-dir', pinDir], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      waiting.stderr!.on('data', d => { err += d; });
      const waited = new Promise<number | null>(resolve => waiting.on('close', code => resolve(code)));
      await waitFor(() => err.includes('which is starting'), 'ctl to wait');
      fake.kill('SIGKILL');
      expect(await waited).toBe(1);
      expect(err.trim().split('\n')).toEqual([expect.stringMatching(/waiting for/),
        `procimage: the procimage attach of ${pinDir} (pid ${fake.pid}) exited without listening; see its output`]);
    } finally {
      fake.kill('SIGKILL');
    }
  });

  it('a SIGKILLed attach\'s control socket is removed by the next attach, and by ctl; a live attach\'s stays', async () => {
    const liveOne = await attach(['-k']);
    const dead = await attach(['-k']);
    const deadSock = socketOf(dead.pinDir);
    dead.proc.kill('SIGKILL');
    await dead.exited;
    expect(existsSync(deadSock)).toBe(true); // nothing removes it at the death
    // a temporary cache file of a process that died while writing it
    const tmp = `/run/procimage/features.json.${deadPid()}`;
    writeFileSync(tmp, '{}', { mode: 0o600 });
    const next = await attach(['-k']);
    expect(existsSync(deadSock)).toBe(false);
    expect(existsSync(tmp)).toBe(false);
    expect(next.stderr).not.toMatch(/warning/); // another directory's leftovers: removed without a word
    expect(existsSync(socketOf(liveOne.pinDir))).toBe(true);
    expect((await liveOne.ctl(['--status'])).code).toBe(0);

    // ctl, finding no attach, removes the dead one's socket too
    const again = await attach(['-k']);
    const againSock = socketOf(again.pinDir);
    again.proc.kill('SIGKILL');
    await again.exited;
    const r = await again.ctl(['--status']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^procimage: no procimage attach is running for /);
    expect(existsSync(againSock)).toBe(false);
    expect(existsSync(socketOf(liveOne.pinDir))).toBe(true);
    expect((await liveOne.ctl(['--status'])).code).toBe(0);
  });
});

/** The control socket of the attach of pinDir (src/control/protocol.ts). */
function socketOf(pinDir: string): string {
  return `/run/procimage/${createHash('sha256').update(pinDir).digest('hex').slice(0, 16)}.sock`;
}

/** A pid no process has (a child that has exited and been reaped). */
function deadPid(): number {
  return spawnSync('true').pid!;
}
