// Public tuning data: simulations of the handbook's generator with seeds of their own, never the seed of any data a
// model is evaluated on (HANDBOOK_DEFAULTS.seed: `fraudops simulate` / `produce --simulate` and the README's
// quality table). Nobody's transactions are read, so what a search learns from them costs no privacy.
import { HANDBOOK_DEFAULTS, simulate } from '../../simulator';
import { InvalidInputError } from '../errors';
import { type SplitFeatures, splitFeatures } from '../experiment';
import { type FeatureSet, HANDBOOK_FEATURE_SET } from '../feature-set';
import { DAY_SECONDS } from '../features';
import { dayStart, type LabelledTransactions, latestProtocol, type ProtocolOptions, protocolSplit } from '../protocol';

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

/**
 * The splits a trial trains and scores on (public simulations here; a private search passes the pipeline's window): the pipeline's protocol shape placed at the end of the simulation, with
 * the VALIDATION rows (card and day included) in the place of the test rows, so runExperimentOnSplits' ranking
 * metrics (AP, AUC, card precision@100) are validation metrics. The test period is never read.
 */
export function tuningSplits(
  data: Parameters<typeof splitFeatures>[0],
  shape: Omit<ProtocolOptions, 'trainStart'>,
  features: FeatureSet = HANDBOOK_FEATURE_SET,
): SplitFeatures {
  const protocol = latestProtocol(data, shape);
  const splits = splitFeatures(data, protocol, features);
  const rows = protocolSplit(data, protocol).validation;
  const validationStart = dayStart(protocol.trainStart) - protocol.validationDays * DAY_SECONDS;
  return {
    ...splits,
    periods: { ...splits.periods, test: splits.periods.validation },
    test: {
      ...splits.validation,
      customerId: rows.map((row) => data.customerId[row]),
      day: Uint16Array.from(rows, (row) => Math.floor((data.timestamp[row] - validationStart) / DAY_SECONDS)),
    },
    removedKnownCompromised: 0,
  };
}
