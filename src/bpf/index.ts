// The libbpf binding: everything above this folder uses these classes, never koffi or libbpf directly.
export { BpfObject } from './object.js';
export { Program, BPF_TRACE_UPROBE_MULTI, type UprobeTarget, type UprobeMultiTarget } from './program.js';
export { BpfMap, MapType, UpdateFlags, type BatchOp, type MapInfo } from './map.js';
export { Codec, type StructLayout, type StructOf, type StructInput } from './codec.js';
export { TypedMap } from './typedmap.js';
export { Link } from './link.js';
export { readIter } from './iter.js';
export { pinnedKind, type PinnedKind } from './pinned.js';
export { RingReader, forEachRecord, wakeBytes, type Batch, type BatchHandler } from './ringbuf.js';
export { BpfError, VerifierError, UnsupportedFeatureError, verifierReason } from './errors.js';
export { probe, supported, requireFeature, FEATURES, type Feature, type Support } from './features.js';
export { possibleCpus } from './cpus.js';
export { Unwinder, demangle, type Frame, type Where } from './unwinder.js';
export { cfiTable, elfLoads, type LoadSegment } from './cfitable.js';
export { Sideband, type SidebandRecord } from './sideband.js';
export { RunStats } from './stats.js';
