// `make bench`: every benchmark, printed as Markdown tables (docs/performance.md quotes a run).
//   tsx bench/run.ts [syscall] [activation] [drain] [oracles] [sched] [stacks] [resource] [syscall-lock] [unixmix] [unixmix-floor] [disturb] [record] [report] [page] [switch] [startup] [wakers] [metrics] [peers] [load]
import { activationBench } from './activation.js';
import { recordCostBench, reportBench } from './record.js';
import { switchBench } from './switch.js';
import { wakersBench } from './wakers.js';
import { pageBench } from './page.js';
import { peersBench } from './peers.js';
import { loadBench } from './load.js';
import { metricsBench } from './metrics.js';
import { disturbBench } from './disturb.js';
import { drainBench } from './drain.js';
import { oraclesBench } from './oracles.js';
import { schedBench, stacksBench } from './sched.js';
import { resourceBench } from './resource.js';
import { syscallBench } from './syscall.js';
import { syscallLockBench } from './syscall_lock.js';
import { startupBench } from './startup.js';
import { unixmixBench } from './unixmix.js';
import { CORES } from './lib.js';
import { release } from 'node:os';

const all = {
  syscall: syscallBench, activation: activationBench, drain: drainBench, oracles: oraclesBench, sched: schedBench, stacks: stacksBench,
  resource: resourceBench, 'syscall-lock': syscallLockBench, unixmix: () => unixmixBench(), 'unixmix-floor': () => unixmixBench(['floor']), disturb: () => disturbBench(), record: recordCostBench, report: reportBench, page: pageBench, switch: switchBench,
  startup: startupBench, wakers: wakersBench, metrics: metricsBench,
};
// not in `make bench`: the peer study takes ~10 minutes of its own (`make bench-peers`); the load
// run holds both cores for LOAD_SECONDS (default 600)
const extra = { peers: peersBench, load: loadBench };
const chosen = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(all);
const every = { ...all, ...extra };

console.log(`## procimage benchmarks — ${new Date().toISOString()}, Linux ${release()}, ${CORES} CPUs\n`);
for (const name of chosen) {
  const fn = every[name as keyof typeof every];
  if (!fn) { console.error(`unknown benchmark ${name}: ${Object.keys(every).join(', ')}`); process.exit(2); }
  console.log(await fn());
}
process.exit(0);
