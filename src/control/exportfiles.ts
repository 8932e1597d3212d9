// The exports a run asks for (--perfetto, --pprof, --folded), apart from the exporters themselves, so
// that `trace` checks them without loading what writes them (report.ts) unless it exports.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describeErrno, UserError } from '../sys/errors.js';

export interface ExportFiles {
  perfetto?: string;
  pprof?: string;
  folded?: string;
}

export const wantsExport = (e: ExportFiles | undefined): boolean => !!(e?.perfetto ?? e?.pprof ?? e?.folded);

/**
 * Before a trace starts: each export's directory exists and can be written, and the path is not a
 * directory, so that a typo is one line now rather than after the run.
 */
export function checkExportPaths(files: ExportFiles): void {
  for (const f of [files.perfetto, files.pprof, files.folded]) {
    if (f === undefined) continue;
    if (statSync(f, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`cannot write ${f}: it is a directory`);
    try {
      accessSync(dirname(resolve(f)), constants.W_OK);
    } catch (e) {
      throw new UserError(`cannot write ${f}: ${describeErrno((e as NodeJS.ErrnoException).errno ?? 0)}`);
    }
  }
}
