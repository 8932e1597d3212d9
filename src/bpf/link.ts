// An attached program: one owner, one close(). Closing detaches it (unless it is pinned, in which
// case the pin keeps it attached until unpinned: SPEC "a pinned link outlives its creator").
import { bpf, type Ptr } from './ffi.js';
import { checkInt } from './errors.js';

export class Link {
  #ptr: Ptr | null;
  #pinPath: string | undefined;

  constructor(ptr: Ptr, readonly program: string, readonly target: string) {
    this.#ptr = ptr;
  }

  private get ptr(): Ptr {
    if (this.#ptr === null) throw new Error(`link ${this.program} -> ${this.target} is closed`);
    return this.#ptr;
  }

  get fd(): number { return bpf.link_fd(this.ptr) as number; }
  get pinPath(): string | undefined { return this.#pinPath; }

  pin(path: string): void {
    checkInt(`pin link ${this.program} at ${path}`, bpf.link_pin(this.ptr, path) as number);
    this.#pinPath = path;
  }

  unpin(): void {
    if (!this.#pinPath) return;
    checkInt(`unpin link ${this.program}`, bpf.link_unpin(this.ptr) as number);
    this.#pinPath = undefined;
  }

  /** Detaches (a pinned link stays attached through its pin) and frees the handle. */
  close(): void {
    if (this.#ptr === null) return;
    bpf.link_destroy(this.#ptr);
    this.#ptr = null;
  }

  [Symbol.dispose](): void { this.close(); }
}
