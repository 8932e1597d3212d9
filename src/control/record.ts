// --record FILE, for trace and for an attach that ctl -a asks to record: the file is created before
// anything is loaded or attached (a path that cannot be written is refused in one line, with nothing
// started), begun with its header when collection starts, and ended with the summary.
import type { Category, Policy } from '../collect/policy.js';
import type { Session, SessionSummary } from '../model/session.js';
import { bytes } from '../output/format.js';
import { makeHeader } from '../output/recording/header.js';
import { RecordingWriter, type RecordingStats } from '../output/recording/writer.js';
import { note } from './outputs.js';

export class Recording {
  private constructor(readonly writer: RecordingWriter, private readonly quiet: boolean) {}

  /** quiet: a recording made only for the exports, which says nothing of itself when it ends. */
  static create(file: string, o: { quiet?: boolean } = {}): Recording {
    return new Recording(RecordingWriter.create(file, msg => note(`warning: ${msg}`)), !!o.quiet);
  }

  /** Called as the activation starts (Session.activate's sink factory): the header goes out now. */
  begin(session: Session, policy: Policy, categories: Category[], startNs: number, command?: string[]): RecordingWriter {
    this.writer.begin(makeHeader({ startNs, startAbsNs: session.clock.toAbsolute(startNs), policy, categories, command }), session.clock);
    return this.writer;
  }

  /** Ends the file with the summary and says where it is. */
  async finish(summary: SessionSummary | undefined): Promise<RecordingStats> {
    const s = await this.writer.finish(summary);
    if (s.gone) note(`recording ${s.path} lost: the file was deleted while it was written (with the ${s.records} records written to it)`);
    else if (!this.quiet) note(`recorded ${s.records} records to ${s.path} (${bytes(s.bytes)}B${s.error ? `; incomplete: ${s.error}, ${s.dropped} records not written` : ''}); ` +
      `read it with: procimage report ${s.path}`);
    return s;
  }

  /** The activation did not start: the file goes. */
  discard(): Promise<void> {
    return this.writer.discard();
  }
}
