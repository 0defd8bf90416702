// Public tuning data: simulations of the handbook's generator with seeds of their own, never the seed of any data a
// model is evaluated on (HANDBOOK_DEFAULTS.seed: `fraudops simulate` / `produce --simulate` and the README's
// quality table). Nobody's transactions are read, so what a search learns from them costs no privacy.
import { HANDBOOK_DEFAULTS, simulate } from '../../simulator';
import { InvalidInputError } from '../errors';
import type { LabelledTransactions } from '../protocol';

/** The seed of the evaluation data (the handbook default): a tuning seed must differ from it. */
export const EVALUATION_SEED = HANDBOOK_DEFAULTS.seed;

export interface PublicDataSpec {
  seed: number;
  customers: number;
  days: number;
}

/** The simulation as the experiment reads transactions (ids as text, seconds since the epoch). */
export function simulatedTransactions(spec: PublicDataSpec): LabelledTransactions {
  if (spec.seed === EVALUATION_SEED) {
    throw new InvalidInputError(`seed = ${spec.seed}: the evaluation data's seed; tuning data needs seeds of its own`);
  }
  const dataset = simulate({ customers: spec.customers, terminals: 2 * spec.customers, days: spec.days, seed: spec.seed });
  const start = Date.parse(`${dataset.config.startDate}T00:00:00Z`) / 1000;
  const c = dataset.columns;
  const text = (n: number) => Array.from({ length: n }, (_, i) => String(i));
  const customers = text(spec.customers);
  const terminals = text(2 * spec.customers);
  return {
    rows: c.count,
    transactionId: text(c.count),
    timestamp: Float64Array.from(c.timeSeconds.subarray(0, c.count), (t) => start + t),
    customerId: Array.from(c.customerId.subarray(0, c.count), (k) => customers[k]),
    terminalId: Array.from(c.terminalId.subarray(0, c.count), (k) => terminals[k]),
    amount: Float64Array.from(c.amountCents.subarray(0, c.count), (cents) => cents / 100),
    fraud: c.fraud.subarray(0, c.count),
  };
}
