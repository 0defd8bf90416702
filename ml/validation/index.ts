// Data validation (DESIGN §5 step 2): schema, per-feature statistics, drift against reference statistics, reports.
export {
  type ColumnDrift,
  columnDrift,
  type DriftScores,
  type DriftThresholds,
  jensenShannonDivergence,
  kolmogorovSmirnovFromCdf,
  PSI_FLOOR,
  populationStabilityIndex,
} from './drift';
export { DataValidationError, throwIfFailed } from './errors';
export { renderHtmlReport } from './html';
export { parseReferenceStatistics, type ReferenceFeature, type ReferenceStatistics, referenceStatistics } from './reference';
export type {
  DuplicateIds,
  FeatureReport,
  FutureTimestamps,
  RowExample,
  RuleViolation,
  ValidationConfig,
  ValidationReport,
} from './report';
export type { ReadRow } from './rules';
export { type Cdf, type ColumnStatistics, columnStatistics, type DriftBins, type Histogram, type Summary } from './stats';
export {
  featureReports,
  isLabelDependent,
  MUST_VARY,
  type ReadOptions,
  type ValidationOptions,
  validateDataset,
  validateLabelledColumns,
  validateRecords,
  validateRows,
} from './validate';
