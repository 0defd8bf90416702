// The Handbook's three fraud scenarios, applied in order to time-sorted transactions; a later scenario overwrites
// the scenario code of an earlier one. Compromised terminals and customers come from per-day streams of the seed.

import { Rng } from '../ml/random';
import { SECONDS_PER_DAY } from '../records';
import { STREAM } from './streams';
import type { TransactionColumns } from './transactions';

export const SCENARIO1_AMOUNT_CENTS = 22000;
export const SCENARIO2_TERMINALS_PER_DAY = 2;
export const SCENARIO2_WINDOW_DAYS = 28;
export const SCENARIO3_CUSTOMERS_PER_DAY = 3;
export const SCENARIO3_WINDOW_DAYS = 14;
export const SCENARIO3_AMOUNT_FACTOR = 5;

/** What the scenarios drew, day by day (for inspection and tests). */
export interface FraudLog {
  /** The last day with a transaction; scenarios 2 and 3 start on days 0 … lastDay − 1. */
  lastDay: number;
  compromisedTerminals: { day: number; terminalIds: number[] }[];
  compromisedCustomers: { day: number; customerIds: number[]; candidates: number; chosenRows: number[] }[];
}

/** Rows of each entity (terminal or customer), ascending: rows of entity e are rows[start[e] … start[e + 1]). */
function rowsByEntity(entityOfRow: Int32Array, count: number, entities: number): { start: Int32Array; rows: Int32Array } {
  const start = new Int32Array(entities + 1);
  for (let row = 0; row < count; row++) start[entityOfRow[row] + 1]++;
  for (let e = 0; e < entities; e++) start[e + 1] += start[e];
  const next = start.slice(0, entities);
  const rows = new Int32Array(count);
  for (let row = 0; row < count; row++) rows[next[entityOfRow[row]]++] = row;
  return { start, rows };
}

/** The rows of `entity` whose day is in [firstDay, firstDay + windowDays), ascending. */
function rowsInWindow(
  index: { start: Int32Array; rows: Int32Array },
  entity: number,
  timeSeconds: Int32Array,
  firstDay: number,
  windowDays: number,
): number[] {
  const from = firstDay * SECONDS_PER_DAY;
  const to = (firstDay + windowDays) * SECONDS_PER_DAY;
  const found: number[] = [];
  for (let k = index.start[entity]; k < index.start[entity + 1]; k++) {
    const row = index.rows[k];
    if (timeSeconds[row] >= from && timeSeconds[row] < to) found.push(row);
  }
  return found;
}

/**
 * Labels `columns` (sorted by time) in place:
 * 1. TX_AMOUNT > 220 → scenario 1;
 * 2. each day d < lastDay, 2 random terminals: all their transactions with d ≤ day < d + 28 → scenario 2;
 * 3. each day d < lastDay, 3 random customers: among their transactions with d ≤ day < d + 14, int(n / 3) chosen at
 *    random get amount × 5 → scenario 3.
 */
export function injectFrauds(columns: TransactionColumns, customers: number, terminals: number, seed: number): FraudLog {
  const { count, timeSeconds, amountCents, fraud, scenario } = columns;
  const lastDay = count > 0 ? Math.floor(timeSeconds[count - 1] / SECONDS_PER_DAY) : 0;
  const log: FraudLog = { lastDay, compromisedTerminals: [], compromisedCustomers: [] };

  for (let row = 0; row < count; row++) {
    if (amountCents[row] > SCENARIO1_AMOUNT_CENTS) {
      fraud[row] = 1;
      scenario[row] = 1;
    }
  }

  const byTerminal = rowsByEntity(columns.terminalId, count, terminals);
  for (let day = 0; day < lastDay; day++) {
    const rng = new Rng([seed, STREAM.scenario2, day]);
    const terminalIds = rng.distinctInts(terminals, Math.min(SCENARIO2_TERMINALS_PER_DAY, terminals));
    log.compromisedTerminals.push({ day, terminalIds });
    for (const terminal of terminalIds) {
      for (const row of rowsInWindow(byTerminal, terminal, timeSeconds, day, SCENARIO2_WINDOW_DAYS)) {
        fraud[row] = 1;
        scenario[row] = 2;
      }
    }
  }

  const byCustomer = rowsByEntity(columns.customerId, count, customers);
  for (let day = 0; day < lastDay; day++) {
    const rng = new Rng([seed, STREAM.scenario3, day]);
    const customerIds = rng.distinctInts(customers, Math.min(SCENARIO3_CUSTOMERS_PER_DAY, customers));
    const candidates = customerIds
      .flatMap((customer) => rowsInWindow(byCustomer, customer, timeSeconds, day, SCENARIO3_WINDOW_DAYS))
      .sort((a, b) => a - b);
    const chosen = Math.floor(candidates.length / 3);
    rng.sampleInPlace(candidates, chosen);
    const chosenRows = candidates.slice(0, chosen);
    for (const row of chosenRows) {
      amountCents[row] *= SCENARIO3_AMOUNT_FACTOR;
      fraud[row] = 1;
      scenario[row] = 3;
    }
    log.compromisedCustomers.push({ day, customerIds, candidates: candidates.length, chosenRows });
  }
  return log;
}
