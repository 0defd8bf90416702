// Public API of the transaction simulator (Handbook chapter 3): simulate, read back by row or by day, write CSV;
// and the producer that publishes records (simulated or not) through the record contract.
export { CONFIG_RULES, HANDBOOK_DEFAULTS, resolveSimulatorConfig, type SimulatorConfig } from './config';
export { CSV_HEADER, csvLines, writeCsv } from './csv';
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
  TimeOrder,
} from './producer';
export { type FraudScenario, TRANSACTION_COLUMNS, type Transaction } from './record';
export { type SimulationSummary, summarize } from './summary';
