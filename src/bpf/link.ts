// An attached program: one owner, one close(). Closing detaches it (unless it is pinned, in which
// case the pin keeps it attached until unpinned: SPEC "a pinned link outlives its creator").
// A link is either libbpf's (a bpf_link *) or a bare link fd that procimage created itself with
// bpf(BPF_LINK_CREATE) for an attach type libbpf 1.1 does not know (uprobe_multi).
import { close as closeAsyncFd, closeSync, unlinkSync } from 'node:fs';
import { bpf, type Ptr } from './ffi.js';
import { checkInt } from './errors.js';

export class Link {
  #ptr: Ptr | null;
  #fd: number | null;
  #pinPath: string | undefined;
  /**
   * The one process whose threads can run it (a uprobe attached with a pid), if any: once that
   * process has ended entirely, nothing can run it any more, and its release need not be waited for
   * before the last records are read (Session.deactivate).
   */
  process: number | undefined;

  constructor(ptr: Ptr | null, readonly program: string, readonly target: string, fd: number | null = null) {
    this.#ptr = ptr;
    this.#fd = ptr === null ? fd : null;
  }

  /** A link from a bare link fd, which it now owns. */
  static fromFd(fd: number, program: string, target: string): Link {
    return new Link(null, program, target, fd);
  }

  private get closed(): boolean { return this.#ptr === null && this.#fd === null; }

  get fd(): number {
    if (this.#ptr !== null) return bpf.link_fd(this.#ptr) as number;
    if (this.#fd !== null) return this.#fd;
    throw new Error(`link ${this.program} -> ${this.target} is closed`);
  }

  get pinPath(): string | undefined { return this.#pinPath; }

  pin(path: string): void {
    if (this.#ptr !== null) checkInt(`pin link ${this.program} at ${path}`, bpf.link_pin(this.#ptr, path) as number);
    else checkInt(`pin link ${this.program} at ${path}`, bpf.obj_pin(this.fd, path) as number);
    this.#pinPath = path;
  }

  unpin(): void {
    if (!this.#pinPath) return;
    if (this.#ptr !== null) checkInt(`unpin link ${this.program}`, bpf.link_unpin(this.#ptr) as number);
    else unlinkSync(this.#pinPath);
    this.#pinPath = undefined;
  }

  /** Detaches (a pinned link stays attached through its pin) and frees the handle. */
  close(): void {
    if (this.closed) return;
    if (this.#ptr !== null) bpf.link_destroy(this.#ptr);
    else closeSync(this.#fd!);
    this.#ptr = null;
    this.#fd = null;
  }

  /**
   * close() on a libuv pool thread: detaching some links blocks in the kernel for a grace period
   * (~0.1 s for a uprobe here), which should neither stall the event loop nor add up link by link.
   */
  closeAsync(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const ptr = this.#ptr, fd = this.#fd;
    this.#ptr = null;
    this.#fd = null;
    return new Promise(resolve => {
      if (ptr !== null) bpf.link_destroy.async(ptr, () => resolve());
      else closeAsyncFd(fd!, () => resolve());
    });
  }

  /**
   * A link made of others (a set): closes those `ended` picks, as closeAsync() does, resolving once
   * they are released; the rest stay. A single link has none.
   */
  closeSomeAsync(_ended: (l: Link) => boolean): Promise<void> { return Promise.resolve(); }

  [Symbol.dispose](): void { this.close(); }
}
