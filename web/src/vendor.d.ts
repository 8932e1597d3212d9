// Types for the two kept libraries that ship none: only what the page uses.
declare module 'd3-flame-graph' {
  interface FlameGraph {
    (selection: unknown): void;
    width(w: number): FlameGraph;
    cellHeight(h: number): FlameGraph;
    minFrameSize(px: number): FlameGraph;
    transitionDuration(ms: number): FlameGraph;
    sort(on: boolean): FlameGraph;
    inverted(on: boolean): FlameGraph;
    setDetailsElement(e: HTMLElement): FlameGraph;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    label(fn: (d: any) => string): FlameGraph;
  }
  export default function flamegraph(): FlameGraph;
}

declare module 'd3-selection' {
  interface Selection {
    datum(d: unknown): Selection;
    call(fn: (s: Selection) => void): Selection;
  }
  export function select(e: Element): Selection;
}
