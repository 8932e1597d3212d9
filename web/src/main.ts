// The page: a process tree on the left; the timeline, the interval clicked and a tab of the other
// panels on the right; what is collected and what was lost always at the top. Data from the server
// that serves the page (live, or a recording), or embedded in the page itself (report --html).
import type { PageData, PageMeta } from '../../src/output/page/model.js';
import { el, fill, throttle } from './dom.js';
import { Details } from './panels/details.js';
import { FlamePanel } from './panels/flame.js';
import { Header } from './panels/header.js';
import { LockPanel } from './panels/locks.js';
import { ResourcePanel } from './panels/resources.js';
import { SchedPanel } from './panels/sched.js';
import { SyscallPanel } from './panels/syscalls.js';
import { TimelinePanel } from './panels/timeline.js';
import { ProcessTree } from './panels/tree.js';
import { LocalSource, RemoteSource, type Source } from './source.js';
import { State } from './state.js';

const embedded = document.getElementById('procimage-data');
const source: Source = embedded ? new LocalSource(JSON.parse(embedded.textContent ?? '{}') as PageData) : new RemoteSource();
const state = new State();
let meta: PageMeta | undefined;

const header = new Header();
const tree = new ProcessTree(state);
const details = new Details();
const timeline = new TimelinePanel(state, source, (tid, id) => {
  void source.interval(tid, id).then(d => details.show(d, meta?.t0 ?? 0));
});
const panels = {
  flame: { label: 'Off-CPU flame graph', panel: new FlamePanel(state, source), refresh: (p: FlamePanel) => p.refresh() },
  resources: { label: 'Resources', panel: new ResourcePanel(state, source), refresh: (p: ResourcePanel) => p.refresh(meta?.t0 ?? 0) },
  sched: { label: 'Scheduling delay', panel: new SchedPanel(state, source), refresh: (p: SchedPanel) => p.refresh(meta?.t0 ?? 0) },
  syscalls: { label: 'Syscalls', panel: new SyscallPanel(state, source), refresh: (p: SyscallPanel) => p.refresh() },
  locks: { label: 'Locks', panel: new LockPanel(state, source), refresh: (p: LockPanel) => p.refresh() },
} as const;
type Tab = keyof typeof panels;
let tab: Tab = 'flame';
const tabBar = el('div', { class: 'tabs', role: 'tablist' });
const tabBody = el('div', { class: 'tabbody' });

function refreshTab(): Promise<void> {
  const t = panels[tab];
  return (t.refresh as (p: unknown) => Promise<void>)(t.panel).catch(e => { fill(t.panel.root, el('p', { class: 'hint' }, String(e))); });
}

function showTab(t: Tab, refresh = true): void {
  tab = t;
  for (const b of tabBar.children) b.classList.toggle('on', (b as HTMLElement).dataset.tab === t);
  fill(tabBody, panels[t].panel.root);
  if (refresh) void refreshTab();
}

for (const [key, t] of Object.entries(panels)) {
  const b = el('button', { type: 'button', role: 'tab', 'data-tab': key }, t.label);
  b.addEventListener('click', () => showTab(key as Tab));
  tabBar.append(b);
}

const app = document.getElementById('app')!;
fill(app, header.root, el('div', { class: 'body' }, tree.root,
  el('main', {}, timeline.root, details.root, el('section', { class: 'tabbed' }, tabBar, tabBody))));

/** Everything the page shows, asked again: at start, and when the data moved (live). */
async function refresh(): Promise<void> {
  try {
    meta = await source.meta();
  } catch (e) {
    fill(header.root, el('span', { class: 'brand' }, 'procimage'), el('span', { class: 'hint' }, String((e as Error).message)));
    return;
  }
  header.render(meta);
  const procs = await source.processes();
  tree.render(procs, meta.now);
  panels.resources.panel.setProcesses(procs);
  // the timeline first (what a person looks at first), then the tab below it
  await timeline.update(procs, meta.t0, meta.now, meta.live && !meta.ended);
  await refreshTab();
  document.body.dataset.ready = 'true';
}

state.on(what => {
  if (what === 'selection') {
    details.clear();
    void refreshTab();
  }
});
const later = throttle(() => void refresh(), 1000);
source.subscribe(version => {
  // the stream's first word is the version the page is reading: nothing new (a live run's next word
  // comes within half a second)
  if (document.body.dataset.ready === 'true' && version !== meta?.version) later();
}, () => {
  state.selection = {};
  state.window = undefined;
  details.clear();
  later();
});
showTab('flame', false);
void refresh();
