// One colour per state, everywhere on the page (timeline, legend, details).
import { KINDS } from '../../src/output/page/timeline.js';

export const KIND_COLOR: Record<(typeof KINDS)[number], string> = {
  running: '#2e9e44',
  preempted: '#e8a23a',
  sleeping: '#4a7fd0',
  disk: '#d9453b',
  other: '#9a9a9a',
};
export const KIND_LABEL: Record<(typeof KINDS)[number], string> = {
  running: 'running', preempted: 'preempted (R)', sleeping: 'sleeping (S)', disk: 'disk wait (D)', other: 'other',
};
export const colorOf = (kind: number) => KIND_COLOR[KINDS[kind] ?? 'other'];
export { KINDS };
