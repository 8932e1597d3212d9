// The pthread lock probes of the processes a thread-group target starts. A uprobe is attached with
// one pid and lives in that process's address space: a child forked from the target inherits its
// breakpoints (dup_mmap) and is a target from birth (pi_follow), but the program it execs has a new
// address space, into which no probe follows. So bpf/lock.bpf.c (lock_exec) stops every followed
// process as it execs, before its first instruction, and sends a lock_exec record; here the probes
// are attached for its pid on the library the new program will map (the same path as the followed
// processes' so far, in its own root; another file there is planned anew), and then it is continued.
// Once it runs, what ld.so really mapped is looked at again: a libc none of them had is probed then,
// late (the window docs/architecture.md names).
// With a cgroup target, a process moved into the cgroup later is announced too (lock_cgroup_join):
// it is running and not held, so its probes go on the libraries it has mapped, as soon as they can.
import { existsSync } from 'node:fs';
import { Link, type BpfObject } from '../bpf/index.js';
import { attachLockUprobes, planForFile, pthreadLibrariesMapped, type ProbePlan } from './libc-uprobes.js';
import { readMaps, type Mapping } from '../sys/procmaps.js';

interface Probed {
  /** The process's start (ns, the kernel's clock): a pid used again is another process. */
  startNs: number | undefined;
  /** The library files (device:inode) probed in it. */
  files: Set<string>;
  links: Link[];
}

/**
 * When to look at what a continued process has mapped, from its release: ld.so has mapped its
 * libraries within ms. The first look is for the symbols of a program that may be over in a few ms
 * (wakechain's 5 rounds of `holder` last ~15 ms: a look at 20 ms found it gone, and its lock stacks
 * stayed addresses).
 */
const RECHECK_MS = [3, 20, 250];

/**
 * The links the follower makes after the activation, closed as one at deactivation (the session
 * owns this one, and the target's own links beside it).
 */
class LinkSet extends Link {
  #links = new Set<Link>();
  #ended = false;

  constructor() {
    super(null, 'lock_uprobe', 'pthread lock probes of the processes a thread group starts');
  }

  get ended(): boolean { return this.#ended; }

  /** Adds links made after the activation; closes them at once if the set has been closed meanwhile. */
  add(links: Link[]): void {
    for (const l of links) {
      if (this.#ended) void l.closeAsync();
      else this.#links.add(l);
    }
  }

  remove(l: Link): void { this.#links.delete(l); }

  override close(): void {
    this.#ended = true;
    for (const l of this.#links) l.close();
    this.#links.clear();
  }

  override async closeSomeAsync(ended: (l: Link) => boolean): Promise<void> {
    const links = [...this.#links].filter(ended);
    for (const l of links) this.#links.delete(l);
    await Promise.all(links.map(l => l.closeAsync()));
  }

  override async closeAsync(): Promise<void> {
    this.#ended = true;
    const links = [...this.#links];
    this.#links.clear();
    await Promise.all(links.map(l => l.closeAsync()));
  }
}

export class ExecFollower {
  readonly link: LinkSet;
  private readonly procs = new Map<number, Probed>();
  /** The paths of the libraries followed processes mapped: where a new program's is looked for. */
  private readonly libPaths = new Set<string>();
  /** Per process, the work on it in order: a recheck never attaches beside an attach in flight. */
  private readonly queue = new Map<number, Promise<void>>();

  /**
   * onMaps: what a followed process mapped, read once it runs (its libraries are there by then), for
   * the symbolizer: a short-lived program may be gone before a record of its asks for them.
   */
  constructor(private readonly obj: BpfObject, private readonly multi: boolean,
    private readonly onMaps?: (tgid: number, maps: Mapping[]) => void) {
    this.link = new LinkSet();
  }

  /**
   * A target process probed at activation (links on plan's file): followed from now on. `own`: its
   * links belong to the set (else the caller hands them to the session itself).
   */
  adopt(pid: number, plan: ProbePlan, file: string | undefined, links: Link[], own = false): void {
    this.procs.set(pid, { startNs: undefined, files: new Set(file ? [file] : []), links });
    this.libPaths.add(plan.path);
    if (own) this.link.add(links);
  }

  /** Lets a held process go on. */
  static release(tgid: number): void {
    try {
      process.kill(tgid, 'SIGCONT');
    } catch { /* it has ended */ }
  }

  /** A followed process exec'd and is stopped: probes it, then continues it, whatever happens. */
  exec(tgid: number, startNs: number): void {
    void this.enqueue(tgid, () => this.probe(tgid, startNs)).finally(() => {
      ExecFollower.release(tgid);
      // from its release on: held, it maps nothing (ld.so runs once it goes on)
      for (const ms of RECHECK_MS) setTimeout(() => void this.enqueue(tgid, () => this.recheck(tgid, startNs)), ms).unref();
    });
  }

  /**
   * A process was moved into the target cgroup (not held): probes what it has mapped, now. One
   * already followed (moved within the cgroup's tree) has its probes: nothing is attached twice.
   */
  join(tgid: number, startNs: number): void {
    void this.enqueue(tgid, async () => {
      const p = this.entry(tgid, startNs);
      if (p) await this.attachMapped(tgid, p);
    });
  }

  /** Closes the probes of processes that have ended (at each poll). */
  forgetEnded(): void {
    for (const tgid of this.procs.keys()) if (!existsSync(`/proc/${tgid}`)) this.drop(tgid);
  }

  private enqueue(tgid: number, f: () => Promise<void>): Promise<void> {
    const next = (this.queue.get(tgid) ?? Promise.resolve()).then(f).catch(() => undefined);
    this.queue.set(tgid, next);
    void next.then(() => { if (this.queue.get(tgid) === next) this.queue.delete(tgid); });
    return next;
  }

  /** The process tgid that started at startNs: the one followed, or a new entry (undefined: ended). */
  private entry(tgid: number, startNs: number): Probed | undefined {
    if (this.link.ended) return undefined;
    let p = this.procs.get(tgid);
    if (p && p.startNs !== undefined && p.startNs !== startNs) {
      this.drop(tgid); // its pid's last process ended unnoticed: this is another one
      p = undefined;
    }
    if (!p) {
      p = { startNs, files: new Set(), links: [] };
      this.procs.set(tgid, p);
    }
    p.startNs = startNs;
    return p;
  }

  private async probe(tgid: number, startNs: number): Promise<void> {
    const p = this.entry(tgid, startNs);
    if (!p) return;
    // held at its exec, it has its program and ld.so mapped: enough to name its own frames should it
    // be gone before the first look after its release (its libraries come then)
    const maps = readMaps(tgid);
    if (maps?.length) this.onMaps?.(tgid, maps);
    for (const path of this.libPaths) {
      const found = planForFile(`/proc/${tgid}/root${path}`, path);
      if (found) await this.attach(tgid, p, found);
    }
  }

  private async recheck(tgid: number, startNs: number): Promise<void> {
    const p = this.procs.get(tgid);
    if (this.link.ended || !p || p.startNs !== startNs) return;
    await this.attachMapped(tgid, p);
  }

  /** Probes the pthread libraries process tgid has mapped now (and keeps its maps for symbols). */
  private async attachMapped(tgid: number, p: Probed): Promise<void> {
    const maps = readMaps(tgid);
    if (maps) this.onMaps?.(tgid, maps);
    for (const found of pthreadLibrariesMapped(tgid, maps)) {
      this.libPaths.add(found.plan.path);
      await this.attach(tgid, p, found);
    }
  }

  private async attach(tgid: number, p: Probed, found: { plan: ProbePlan; file: string }): Promise<void> {
    if (p.files.has(found.file) || this.link.ended) return;
    p.files.add(found.file);
    const links = await attachLockUprobes(this.obj, found.plan, tgid, this.multi);
    p.links.push(...links);
    this.link.add(links);
  }

  private drop(tgid: number): void {
    const p = this.procs.get(tgid);
    this.procs.delete(tgid);
    for (const l of p?.links ?? []) {
      this.link.remove(l);
      void l.closeAsync();
    }
  }
}
