// What the person looking at the page has chosen: a process or a thread (every panel shows that
// one), the timeline's window, whether it follows the live end. Panels listen for changes.
export interface Selection { tgid?: number; tid?: number }

type Listener = (what: 'selection' | 'window' | 'data' | 'reset') => void;

export class State {
  selection: Selection = {};
  /** The timeline's window, ns on the records' clock; undefined: the whole run. */
  window: { from: number; to: number } | undefined;
  /** Live: the window keeps its width and moves with the end. */
  follow = true;
  /** Threads of each process (from the process list): for panels that filter by threads. */
  threadsOf = new Map<number, number[]>();
  private readonly listeners: Listener[] = [];

  on(l: Listener): void {
    this.listeners.push(l);
  }

  emit(what: 'selection' | 'window' | 'data' | 'reset'): void {
    for (const l of this.listeners) l(what);
  }

  select(s: Selection): void {
    this.selection = s;
    this.emit('selection');
  }

  setWindow(w: { from: number; to: number } | undefined, follow: boolean): void {
    this.window = w;
    this.follow = follow;
    this.emit('window');
  }

  /** The threads the selection stands for: undefined for every one. */
  tids(): number[] | undefined {
    if (this.selection.tid !== undefined) return [this.selection.tid];
    if (this.selection.tgid !== undefined) return this.threadsOf.get(this.selection.tgid) ?? [];
    return undefined;
  }
}
