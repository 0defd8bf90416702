// The simulator's output record: the handbook's columns (HANDBOOK.md), which the default `records:` declaration
// names, so a simulated row is a valid record of the default contract.

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
