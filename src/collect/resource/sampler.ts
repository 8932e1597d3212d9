// A sampler reads every target's cumulative counters at one instant: the task iterator (here) or
// /proc (procsampler.ts). Both hand the tracker the same Samples, so everything above them — the
// intervals, the CPU split, the rankings, the outputs — is one code path whatever the source.
import { readIter, type BpfObject, type Link } from '../../bpf/index.js';
import type { Clock } from '../clock.js';
import { INACTIVE_POLICY, encodePolicy, type Policy } from '../policy.js';
import { decodeSamples, type ExitCapture, type Sample } from './sample.js';
import type { ResourceSource } from './source.js';

export interface Sampler {
  readonly source: ResourceSource;
  /**
   * How far a sample's `start` may lie before the task's real start (ns): 0 for the iterator, which
   * reads task->start_time; a tick for /proc, which gives it in ticks.
   */
  readonly startResolutionNs: number;
  /**
   * Every target's counters, and the exit captures (`takeExits` reads them from the kernel) in the
   * form the tracker matches with the samples. Both call takeExits after reading the tasks: the
   * kernel captures a task before it unlists it, so one the read no longer found is captured by then.
   */
  read(takeExits: () => ExitCapture[]): { samples: Sample[]; exits: ExitCapture[] };
  /** After the last read. */
  close(): void;
}

const ZERO_KEY = Buffer.alloc(4);

/** The task iterator of bpf/resource.bpf.c: one read(2) of an iterator fd gives every target's sample. */
export class IterSampler implements Sampler {
  readonly source = 'iter' as const;
  readonly startResolutionNs = 0;
  private readonly iter: Link;

  constructor(private readonly obj: BpfObject, policy: Policy, private readonly clock: Clock) {
    obj.map('resource_policy').update(ZERO_KEY, encodePolicy(policy));
    try {
      this.iter = obj.program('resource_iter').attachIter();
    } catch (e) {
      obj.map('resource_policy').update(ZERO_KEY, INACTIVE_POLICY);
      throw e;
    }
  }

  read(takeExits: () => ExitCapture[]): { samples: Sample[]; exits: ExitCapture[] } {
    const samples = decodeSamples(readIter(this.iter), this.clock);
    return { samples, exits: takeExits() };
  }

  /** The iterator's policy back to nothing, its link closed. */
  close(): void {
    this.iter.close();
    this.obj.map('resource_policy').update(ZERO_KEY, INACTIVE_POLICY);
  }
}
