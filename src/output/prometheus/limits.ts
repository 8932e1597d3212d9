// The fold's options and their bounds (fold.ts), apart: the CLI's parser reads them without loading the exporter.

export interface FoldOptions {
  /** Targets with their own label sets, per metric (by that metric's value). */
  top: number;
  /** Ceiling on the targets' own series per scrape, all metrics together ("(other)" and the rest beside). */
  maxSeries: number;
}

export const DEFAULT_FOLD: FoldOptions = { top: 20, maxSeries: 5000 };
/** The largest values the options take (a ceiling, not a target: a page of 10 million series is not served fast). */
export const METRICS_TOP_MAX = 100_000, METRICS_SERIES_MAX = 10_000_000;
