// The transaction record: CSV header and Kafka JSON fields, named as in the Handbook so results compare.
import type { FeatureInput } from '../ml/features';

/** 0: genuine; 1: amount > 220; 2: compromised terminal; 3: compromised customer (card). */
export type FraudScenario = 0 | 1 | 2 | 3;

export interface Transaction {
  /** Position in time order, from 0. */
  TRANSACTION_ID: number;
  /** UTC, 'YYYY-MM-DD HH:MM:SS'. */
  TX_DATETIME: string;
  CUSTOMER_ID: number;
  TERMINAL_ID: number;
  /** Amount with two decimals (a scenario-3 fraud is the drawn amount × 5). */
  TX_AMOUNT: number;
  /** Seconds since the start date, 00:00:00 UTC. */
  TX_TIME_SECONDS: number;
  /** Whole days since the start date. */
  TX_TIME_DAYS: number;
  TX_FRAUD: 0 | 1;
  TX_FRAUD_SCENARIO: FraudScenario;
}

/** The columns, in CSV order. */
export const TRANSACTION_COLUMNS = [
  'TRANSACTION_ID',
  'TX_DATETIME',
  'CUSTOMER_ID',
  'TERMINAL_ID',
  'TX_AMOUNT',
  'TX_TIME_SECONDS',
  'TX_TIME_DAYS',
  'TX_FRAUD',
  'TX_FRAUD_SCENARIO',
] as const satisfies readonly (keyof Transaction)[];

/** What a record must hold: on `transactions` the label is absent (it travels on `transaction-labels`). */
export type LabelRule = 'absent' | 'required';

export interface FieldProblem {
  field: string;
  rule: string;
}

export type CheckedTransaction = Omit<Transaction, 'TX_FRAUD' | 'TX_FRAUD_SCENARIO'> &
  Partial<Pick<Transaction, 'TX_FRAUD' | 'TX_FRAUD_SCENARIO'>>;

/** The feature code's view of a transaction record (ml/features.ts FeatureInput). */
export function featureInputOf(tx: Omit<Transaction, 'TX_FRAUD' | 'TX_FRAUD_SCENARIO'>): FeatureInput {
  return {
    transactionId: tx.TRANSACTION_ID,
    timestamp: parseTxDatetime(tx.TX_DATETIME),
    customerId: tx.CUSTOMER_ID,
    terminalId: tx.TERMINAL_ID,
    amount: tx.TX_AMOUNT,
  };
}

const DATETIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** Seconds since the Unix epoch of a TX_DATETIME ('YYYY-MM-DD HH:MM:SS', UTC), or NaN when it is not one. */
export function parseTxDatetime(text: string): number {
  const match = DATETIME.exec(text);
  if (!match) return Number.NaN;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  // Date.UTC rolls 2018-02-30 over to March; a real calendar date survives the round trip.
  if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return Number.NaN;
  return ms / 1000;
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/**
 * Checks one decoded record against the schema: every problem is named by field and rule. Fields beyond
 * the schema are ignored. Returns the typed record when there is no problem.
 */
export function checkTransaction(
  value: unknown,
  labels: LabelRule = 'absent',
): { record: CheckedTransaction; problems: [] } | { record?: undefined; problems: FieldProblem[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { problems: [{ field: '(record)', rule: 'must be a JSON object' }] };
  }
  const record = value as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const need = (field: string, ok: (v: unknown) => boolean, rule: string) => {
    const v = record[field];
    if (v === undefined || v === null) problems.push({ field, rule: 'is required' });
    else if (!ok(v)) problems.push({ field, rule });
  };
  need('TRANSACTION_ID', isCount, 'must be an integer >= 0');
  need('TX_DATETIME', (v) => typeof v === 'string' && Number.isFinite(parseTxDatetime(v)), "must be a UTC date 'YYYY-MM-DD HH:MM:SS'");
  need('CUSTOMER_ID', isCount, 'must be an integer >= 0');
  need('TERMINAL_ID', isCount, 'must be an integer >= 0');
  need('TX_AMOUNT', (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'must be a finite number >= 0');
  need('TX_TIME_SECONDS', isCount, 'must be an integer >= 0');
  need('TX_TIME_DAYS', isCount, 'must be an integer >= 0');
  if (labels === 'required') {
    need('TX_FRAUD', (v) => v === 0 || v === 1, 'must be 0 or 1');
    need('TX_FRAUD_SCENARIO', (v) => v === 0 || v === 1 || v === 2 || v === 3, 'must be 0, 1, 2 or 3');
  } else {
    for (const field of ['TX_FRAUD', 'TX_FRAUD_SCENARIO']) {
      if (record[field] !== undefined) problems.push({ field, rule: 'must be absent: labels travel on the label topic' });
    }
  }
  if (problems.length) return { problems };
  return { record: record as unknown as CheckedTransaction, problems: [] };
}

/** One problem list as a sentence: `TX_AMOUNT must be a finite number >= 0; CUSTOMER_ID is required`. */
export function describeProblems(problems: readonly FieldProblem[]): string {
  return problems.map((p) => `${p.field} ${p.rule}`).join('; ');
}

/** The label message on `transaction-labels`: what a chargeback system publishes about one transaction. */
export interface LabelMessage {
  TRANSACTION_ID: number;
  CUSTOMER_ID: number;
  TX_FRAUD: 0 | 1;
  TX_FRAUD_SCENARIO: number;
}

/** Checks one decoded label message; CUSTOMER_ID and TX_FRAUD_SCENARIO are optional (0 when absent). */
export function checkLabel(value: unknown): { label: LabelMessage; problems: [] } | { label?: undefined; problems: FieldProblem[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { problems: [{ field: '(record)', rule: 'must be a JSON object' }] };
  }
  const record = value as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  if (!isCount(record.TRANSACTION_ID))
    problems.push({ field: 'TRANSACTION_ID', rule: record.TRANSACTION_ID === undefined ? 'is required' : 'must be an integer >= 0' });
  if (record.TX_FRAUD !== 0 && record.TX_FRAUD !== 1)
    problems.push({ field: 'TX_FRAUD', rule: record.TX_FRAUD === undefined ? 'is required' : 'must be 0 or 1' });
  const scenario = record.TX_FRAUD_SCENARIO ?? 0;
  if (scenario !== 0 && scenario !== 1 && scenario !== 2 && scenario !== 3)
    problems.push({ field: 'TX_FRAUD_SCENARIO', rule: 'must be 0, 1, 2 or 3' });
  const customer = record.CUSTOMER_ID ?? 0;
  if (!isCount(customer)) problems.push({ field: 'CUSTOMER_ID', rule: 'must be an integer >= 0' });
  if (problems.length) return { problems };
  return {
    label: {
      TRANSACTION_ID: record.TRANSACTION_ID as number,
      CUSTOMER_ID: customer as number,
      TX_FRAUD: record.TX_FRAUD as 0 | 1,
      TX_FRAUD_SCENARIO: scenario as number,
    },
    problems: [],
  };
}
