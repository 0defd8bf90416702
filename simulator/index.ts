// Public API of the transaction simulator (Handbook chapter 3): simulate, read back by row or by day, write CSV.
export { CONFIG_RULES, HANDBOOK_DEFAULTS, resolveSimulatorConfig, type SimulatorConfig } from './config';
export { CSV_HEADER, csvLines, writeCsv } from './csv';
export { type DayBatch, type ProgressListener, SimulatedDataset, type SimulationProgress, simulate } from './dataset';
export type { FraudLog } from './frauds';
export { type FraudScenario, TRANSACTION_COLUMNS, type Transaction } from './schema';
export { type SimulationSummary, summarize } from './summary';
