// The page's one way to make elements: text goes in as text (textContent), never as markup, since
// most of what the page shows comes from the traced programs (comm, argv, paths, frames) and is
// attacker input. Attributes are set one by one (setAttribute: also never parsed as markup).
type Child = Node | string | number | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, ...children);
  return e;
}

export function append(e: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces e's children. */
export function fill(e: Element, ...children: Child[]): void {
  e.replaceChildren();
  append(e, ...children);
}

/** Calls fn at once, then at most every `ms`, with one last call after a burst (live updates, resizes). */
export function throttle(fn: () => void, ms: number): () => void {
  let timer: number | undefined, again = false;
  const fire = () => {
    fn();
    timer = window.setTimeout(() => {
      timer = undefined;
      if (again) {
        again = false;
        fire();
      }
    }, ms);
  };
  return () => {
    if (timer !== undefined) again = true;
    else fire();
  };
}
