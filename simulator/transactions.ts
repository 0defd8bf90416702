// Genuine transactions (Handbook chapter 3), generated customer by customer into typed columns, then put in time order.

import { Rng } from '../ml/random';
import { SECONDS_PER_DAY } from '../records';
import type { CustomerProfiles } from './profiles';
import { STREAM } from './streams';

/** Transactions as columns (struct of arrays); row i of every column is one transaction. */
export interface TransactionColumns {
  count: number;
  timeSeconds: Int32Array;
  customerId: Int32Array;
  terminalId: Int32Array;
  /** Whole cents, so that the scenario-3 "× 5" stays exact. */
  amountCents: Float64Array;
  fraud: Uint8Array;
  scenario: Uint8Array;
}

const TIME_OF_DAY_MEAN = SECONDS_PER_DAY / 2;
const TIME_OF_DAY_STD = 20000;

function allocateColumns(capacity: number): TransactionColumns {
  return {
    count: 0,
    timeSeconds: new Int32Array(capacity),
    customerId: new Int32Array(capacity),
    terminalId: new Int32Array(capacity),
    amountCents: new Float64Array(capacity),
    fraud: new Uint8Array(capacity),
    scenario: new Uint8Array(capacity),
  };
}

function grow(columns: TransactionColumns): TransactionColumns {
  const grown = allocateColumns(columns.timeSeconds.length * 2);
  grown.count = columns.count;
  grown.timeSeconds.set(columns.timeSeconds);
  grown.customerId.set(columns.customerId);
  grown.terminalId.set(columns.terminalId);
  grown.amountCents.set(columns.amountCents);
  return grown;
}

/**
 * Per customer (own stream), per day: Poisson(mean_nb_tx_per_day) attempts; each draws t = int(N(43200, 20000)) and
 * is kept only when 0 < t < 86400; amount ~ N(mean, std), a negative draw replaced by U(0, 2·mean), rounded to cents;
 * terminal uniform among the available ones. A customer with no terminal makes no transaction.
 * Rows come out customer by customer; `sortByTime` orders them.
 */
export function generateTransactions(
  customers: CustomerProfiles,
  days: number,
  seed: number,
  onCustomerDone?: (done: number) => void,
): TransactionColumns {
  let expected = 0;
  for (let c = 0; c < customers.count; c++) expected += customers.meanNbTxPerDay[c] * days;
  let columns = allocateColumns(Math.ceil(expected * 1.02) + 1024);
  for (let c = 0; c < customers.count; c++) {
    const first = customers.terminalStart[c];
    const available = customers.terminalStart[c + 1] - first;
    if (available > 0) {
      const rng = new Rng([seed, STREAM.customerTransactions, c]);
      const lambda = customers.meanNbTxPerDay[c];
      const mean = customers.meanAmount[c];
      const std = customers.stdAmount[c];
      for (let day = 0; day < days; day++) {
        const attempts = rng.poisson(lambda);
        for (let a = 0; a < attempts; a++) {
          const time = Math.trunc(rng.normal(TIME_OF_DAY_MEAN, TIME_OF_DAY_STD));
          if (time <= 0 || time >= SECONDS_PER_DAY) continue;
          let amount = rng.normal(mean, std);
          if (amount < 0) amount = rng.uniformRange(0, 2 * mean);
          if (columns.count === columns.timeSeconds.length) columns = grow(columns);
          const row = columns.count++;
          columns.timeSeconds[row] = day * SECONDS_PER_DAY + time;
          columns.customerId[row] = c;
          columns.terminalId[row] = customers.terminalIds[first + rng.uniformInt(available)];
          columns.amountCents[row] = Math.round(amount * 100);
        }
      }
    }
    onCustomerDone?.(c + 1);
  }
  return columns;
}

/** Stable counting sorts, so that `keys[perm[k]]` ascends and ties keep their order. */
function countingSortPermutation(keys: Int32Array, order: Int32Array, buckets: number): { permutation: Int32Array; starts: Int32Array } {
  const starts = new Int32Array(buckets + 1);
  for (let k = 0; k < order.length; k++) starts[keys[order[k]] + 1]++;
  for (let b = 0; b < buckets; b++) starts[b + 1] += starts[b];
  const next = starts.slice(0, buckets);
  const permutation = new Int32Array(order.length);
  for (let k = 0; k < order.length; k++) {
    const row = order[k];
    permutation[next[keys[row]]++] = row;
  }
  return { permutation, starts };
}

/**
 * The rows in time order (ties: customer id, then draw order), by two stable counting sorts (second of day, then day).
 * `dayStart[d] … dayStart[d + 1]` are the rows of day d.
 */
export function sortByTime(columns: TransactionColumns, days: number): { sorted: TransactionColumns; dayStart: Int32Array } {
  const n = columns.count;
  const secondOfDay = new Int32Array(n);
  const day = new Int32Array(n);
  const identity = new Int32Array(n);
  for (let row = 0; row < n; row++) {
    day[row] = Math.floor(columns.timeSeconds[row] / SECONDS_PER_DAY);
    secondOfDay[row] = columns.timeSeconds[row] - day[row] * SECONDS_PER_DAY;
    identity[row] = row;
  }
  const bySecond = countingSortPermutation(secondOfDay, identity, SECONDS_PER_DAY).permutation;
  const { permutation, starts: dayStart } = countingSortPermutation(day, bySecond, days);
  const sorted = allocateColumns(n);
  sorted.count = n;
  for (let k = 0; k < n; k++) {
    const row = permutation[k];
    sorted.timeSeconds[k] = columns.timeSeconds[row];
    sorted.customerId[k] = columns.customerId[row];
    sorted.terminalId[k] = columns.terminalId[row];
    sorted.amountCents[k] = columns.amountCents[row];
  }
  return { sorted, dayStart };
}
