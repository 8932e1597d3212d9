// Every category procimage can collect, by name. The keytime object is the lifecycle core: the
// session always loads it first, and the other objects share its maps.
import type { Collector } from './collector.js';
import * as layout from './layout.js';
import type { Category } from './policy.js';
import { keytime } from './keytime.js';
import { schedule } from './schedule.js';
import { resource } from './resource/index.js';
import { lock } from './lock.js';
import { syscall } from './syscall.js';

export const COLLECTORS: Partial<Record<Category, Collector>> = {
  keytime,
  schedule,
  resource,
  lock,
  syscall,
};

export const CORE: Collector = keytime;

export function implemented(c: Category): boolean {
  return COLLECTORS[c] !== undefined;
}

/** The largest ring record of any category (every `struct pi_*_event`): a drain batch must hold one. */
export const MAX_RECORD = Math.max(...Object.entries(layout)
  .filter(([name, v]) => name.endsWith('_event') && typeof v === 'object' && 'SIZE' in v)
  .map(([, v]) => (v as { SIZE: number }).SIZE));
