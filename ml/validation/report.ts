// The validation report: plain JSON (stored as an artifact beside its HTML rendering).
import type { LabelRule } from '../../records';
import type { ColumnDrift, DriftThresholds } from './drift';
import type { ColumnStatistics } from './stats';

/** `validation` in config.yaml. */
export interface ValidationConfig {
  /** An event time later than now + this many seconds fails. */
  maxFutureSeconds: number;
  /** Above this share of rows failing the record contract, validation fails (below, each rule is a warning). */
  maxBadRowFraction: number;
  /** A feature drifts when any of its scores exceeds its threshold. */
  drift: DriftThresholds;
}

/** One offending row: its 0-based position in the input (and its line in a file), its transaction id and the offending value when known. */
export interface RowExample {
  row: number;
  line?: number;
  id?: string;
  value?: number | string | boolean | null;
}

/** Rows breaking one rule of the contract, by declared field (a field can break several rules; a row several fields). */
export interface RuleViolation {
  field: string;
  rule: string;
  rows: number;
  /** Up to 5, in input order. */
  examples: RowExample[];
}

export interface DuplicateIds {
  /** Distinct transaction ids carried by more than one valid row. */
  ids: number;
  /** Rows carrying such an id (every copy). */
  rows: number;
  /** Up to 5 ids (first in code-unit order), each with up to 5 of its rows. */
  examples: { id: string; rows: number[] }[];
}

export interface FutureTimestamps {
  rows: number;
  /** now + maxFutureSeconds, ISO 8601 (UTC). */
  limit: string;
  /** The latest event time (as written) among those rows. */
  latest?: string;
  examples: RowExample[];
}

export interface FeatureReport {
  name: string;
  /** False for the label-dependent features (TERMINAL_ID_RISK_*) when labels are absent: they are 0 by construction. */
  checked: boolean;
  /** At least two values and all equal. */
  constant: boolean;
  /** Drifted, or constant where it must vary (see validate.ts). */
  failed: boolean;
  stats: ColumnStatistics;
  /** Present when a reference with this feature was given (and the feature is checked and has values). */
  drift?: ColumnDrift;
}

export interface ValidationReport {
  kind: 'fraudops.validation.report';
  version: 1;
  status: 'pass' | 'fail';
  /** Why it failed, worst first; each names the field or feature and the rule. */
  failures: string[];
  /** Worth a look but not failing (see validate.ts for the split). */
  warnings: string[];
  /** The time the future-timestamp rule was judged against, ISO 8601 (UTC). */
  now: string;
  labels: LabelRule;
  /** The declared names of the fields the row rules speak of (records:). */
  fields: { id: string; time: string; amount: string };
  thresholds: ValidationConfig;
  rows: {
    total: number;
    /** Rows passing the contract; the features are computed over these, in time order. */
    valid: number;
    /** Rows failing the contract. */
    bad: number;
    badFraction: number;
    /** Whether the valid rows came in time order (if not, they were sorted before computing features). */
    timeOrdered: boolean;
  };
  rules: RuleViolation[];
  duplicates: DuplicateIds;
  future: FutureTimestamps;
  /** Raw columns over every row, by declared name: the amount (`missing` counts values absent or not a finite number). */
  columns: Record<string, ColumnStatistics>;
  features: FeatureReport[];
  reference?: { rows: number; labels: 'absent' | 'required' };
}
