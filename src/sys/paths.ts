// Where the built artefacts live, found from this file's own location so the CLI works from any cwd.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The repository (package) root: src/sys/paths.ts and dist/sys/paths.js are both two levels down. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD = join(ROOT, 'build');

export const paths = {
  bpfObject: (category: string) => join(BUILD, 'bpf', `${category}.bpf.o`),
  helperLib: join(BUILD, 'libprocimage.so'),
  gate: join(BUILD, 'procimage-gate'),
  workload: (name: string) => join(BUILD, 'workloads', name),
  /** The web page, built by tools/build-web.ts: index.html, page.js, page.css. */
  web: join(BUILD, 'web'),
};

/** Default pin directory (SPEC "Two-phase use"). */
export const DEFAULT_PIN_DIR = '/sys/fs/bpf/procimage';
/** Control sockets and locks of running `attach` processes: root-only, on tmpfs. */
export const RUN_DIR = '/run/procimage';
