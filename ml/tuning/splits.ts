// The splits a tuning trial trains and scores on, from any labelled transactions: public simulations
// (public-data.ts) or, for a search on private data, the pipeline's window.
import { type SplitFeatures, splitFeatures } from '../experiment';
import { type FeatureSet, HANDBOOK_FEATURE_SET } from '../feature-set';
import { DAY_SECONDS } from '../features';
import { dayStart, latestProtocol, type ProtocolOptions, protocolSplit } from '../protocol';

/**
 * The pipeline's protocol shape placed at the end of the data, with the VALIDATION rows (card and day included) in
 * the place of the test rows, so runExperimentOnSplits' ranking metrics (AP, AUC, card precision@100) are validation
 * metrics. The test period is never read.
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
