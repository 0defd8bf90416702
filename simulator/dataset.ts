// The simulation as a whole: profiles, genuine transactions in time order, frauds; read back row by row or day by day.
import { addDays, DatetimeFormatter, parseUtcDatetime, SECONDS_PER_DAY, type TxRecord } from '../records';
import { resolveSimulatorConfig, type SimulatorConfig } from './config';
import { type FraudLog, injectFrauds } from './frauds';
import { type CustomerProfiles, generateCustomerProfiles, generateTerminalProfiles, type TerminalProfiles } from './profiles';
import type { FraudScenario, Transaction } from './record';
import { generateTransactions, sortByTime, type TransactionColumns } from './transactions';

export interface SimulationProgress {
  phase: 'profiles' | 'transactions' | 'frauds' | 'write';
  done: number;
  total: number;
}

export type ProgressListener = (progress: SimulationProgress) => void;

/** One day of transactions, in time order. */
export interface DayBatch {
  day: number;
  /** 'YYYY-MM-DD' (UTC). */
  date: string;
  transactions: Transaction[];
}

export class SimulatedDataset {
  private readonly formatter: DatetimeFormatter;
  /** Epoch seconds of the start date, 00:00:00 UTC. */
  private readonly start: number;
  /** Id texts, made once per customer and terminal: records share them. */
  private readonly customerText: string[];
  private readonly terminalText: string[];

  constructor(
    readonly config: SimulatorConfig,
    readonly customers: CustomerProfiles,
    readonly terminals: TerminalProfiles,
    /** Sorted by time; the row index is TRANSACTION_ID. */
    readonly columns: TransactionColumns,
    /** Rows of day d are dayStart[d] … dayStart[d + 1]. */
    readonly dayStart: Int32Array,
    readonly frauds: FraudLog,
  ) {
    this.formatter = new DatetimeFormatter(config.startDate);
    this.start = parseUtcDatetime(`${config.startDate} 00:00:00`);
    this.customerText = Array.from({ length: customers.count }, (_, c) => String(c));
    this.terminalText = Array.from({ length: terminals.count }, (_, t) => String(t));
  }

  get size(): number {
    return this.columns.count;
  }

  /** The transaction with TRANSACTION_ID `row`. */
  transaction(row: number): Transaction {
    const c = this.columns;
    const time = c.timeSeconds[row];
    return {
      TRANSACTION_ID: row,
      TX_DATETIME: this.formatter.format(time),
      CUSTOMER_ID: c.customerId[row],
      TERMINAL_ID: c.terminalId[row],
      TX_AMOUNT: c.amountCents[row] / 100,
      TX_TIME_SECONDS: time,
      TX_TIME_DAYS: Math.floor(time / SECONDS_PER_DAY),
      TX_FRAUD: c.fraud[row] as 0 | 1,
      TX_FRAUD_SCENARIO: c.scenario[row] as FraudScenario,
    };
  }

  /** Row `row` as a record of the handbook declaration (the default `records:`), labelled. */
  record(row: number): TxRecord {
    const c = this.columns;
    const time = c.timeSeconds[row];
    return {
      id: String(row),
      time: this.start + time,
      timeValue: this.formatter.format(time),
      customer: this.customerText[c.customerId[row]],
      terminal: this.terminalText[c.terminalId[row]],
      amount: c.amountCents[row] / 100,
      label: c.fraud[row] as 0 | 1,
      extras: { TX_TIME_SECONDS: time, TX_TIME_DAYS: Math.floor(time / SECONDS_PER_DAY), TX_FRAUD_SCENARIO: c.scenario[row] },
    };
  }

  /** Every row as a handbook record, in time order. */
  *records(): Generator<TxRecord> {
    for (let row = 0; row < this.size; row++) yield this.record(row);
  }

  /** Day after day (empty days included) from `fromDay`, each day's transactions in time order, labels included. */
  *dayBatches(fromDay = 0): Generator<DayBatch> {
    for (let day = fromDay; day < this.config.days; day++) {
      const transactions: Transaction[] = [];
      for (let row = this.dayStart[day]; row < this.dayStart[day + 1]; row++) transactions.push(this.transaction(row));
      yield { day, date: addDays(this.config.startDate, day), transactions };
    }
  }

  /** Every transaction in time order. */
  *[Symbol.iterator](): Generator<Transaction> {
    for (let row = 0; row < this.size; row++) yield this.transaction(row);
  }
}

/** Runs the Handbook simulator for `overrides` on top of the Handbook defaults (checked; InvalidInputError if bad). */
export function simulate(overrides: Partial<SimulatorConfig> = {}, onProgress?: ProgressListener): SimulatedDataset {
  const config = resolveSimulatorConfig(overrides);
  const report = (phase: SimulationProgress['phase'], done: number, total: number) => onProgress?.({ phase, done, total });

  report('profiles', 0, 1);
  const terminals = generateTerminalProfiles(config.terminals, config.seed);
  const customers = generateCustomerProfiles(config.customers, config.seed, terminals, config.radius);
  report('profiles', 1, 1);

  const every = Math.max(1, Math.floor(config.customers / 100));
  report('transactions', 0, config.customers);
  const generated = generateTransactions(customers, config.days, config.seed, (done) => {
    if (done % every === 0 || done === config.customers) report('transactions', done, config.customers);
  });
  const { sorted, dayStart } = sortByTime(generated, config.days);

  report('frauds', 0, 1);
  const frauds = injectFrauds(sorted, config.customers, config.terminals, config.seed);
  report('frauds', 1, 1);
  return new SimulatedDataset(config, customers, terminals, sorted, dayStart, frauds);
}
