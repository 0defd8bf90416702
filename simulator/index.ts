// Public API of the transaction simulator (Handbook chapter 3): simulate, read back by row or by day, write CSV.
export { CONFIG_RULES, HANDBOOK_DEFAULTS, resolveSimulatorConfig, type SimulatorConfig } from './config';
export { CSV_HEADER, csvLines, parseTransactionsCsv, writeCsv } from './csv';
export { type DayBatch, type ProgressListener, SimulatedDataset, type SimulationProgress, simulate } from './dataset';
export type { FraudLog } from './frauds';
export {
  type OutgoingMessage,
  Pacer,
  type Pacing,
  type PublishCounts,
  type PublishOptions,
  publicationOrder,
  publish,
} from './producer';
export {
  type CheckedTransaction,
  checkLabel,
  checkTransaction,
  describeProblems,
  type FieldProblem,
  type FraudScenario,
  featureInputOf,
  type LabelMessage,
  type LabelRule,
  parseTxDatetime,
  TRANSACTION_COLUMNS,
  type Transaction,
} from './schema';
export { type SimulationSummary, summarize } from './summary';
