// The handbook protocol's splits of a simulated dataset, as `fraudops experiment` reads them: simulate, keep the rows up
// to the end of the test period, features over the timeline, then the time split. Shared by the model-quality benches
// (bench/privacy-units.ts, bench/quality.ts), which run many cells on one set of splits.
import { type SplitFeatures, splitFeatures } from '../ml/experiment';
import { DAY_SECONDS } from '../ml/features';
import { HANDBOOK_PROTOCOL, type LabelledTransactions } from '../ml/protocol';
import { simulate } from '../simulator';

/** The simulation's rows up to the end of the handbook protocol's test period, split; with the time it took. */
export function simulatedSplits(customers: number, days: number, seed: number): { splits: SplitFeatures; seconds: number; rows: number } {
  const started = performance.now();
  const dataset = simulate({ customers, terminals: 2 * customers, days, seed });
  const h = HANDBOOK_PROTOCOL;
  const start = Date.parse(`${dataset.config.startDate}T00:00:00Z`) / 1000;
  const end = Date.parse(`${h.trainStart}T00:00:00Z`) / 1000 + (h.trainDays + h.delayDays + h.testDays) * DAY_SECONDS;
  const c = dataset.columns;
  let rows = 0;
  while (rows < c.count && start + c.timeSeconds[rows] < end) rows++;
  const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i));
  const customerText = ids(customers);
  const terminalText = ids(2 * customers);
  const data: LabelledTransactions = {
    rows,
    transactionId: ids(rows),
    timestamp: Float64Array.from(c.timeSeconds.subarray(0, rows), (t) => start + t),
    customerId: Array.from(c.customerId.subarray(0, rows), (k) => customerText[k]),
    terminalId: Array.from(c.terminalId.subarray(0, rows), (k) => terminalText[k]),
    amount: Float64Array.from(c.amountCents.subarray(0, rows), (cents) => cents / 100),
    fraud: c.fraud.subarray(0, rows),
  };
  const splits = splitFeatures(data, h);
  return { splits, seconds: (performance.now() - started) / 1000, rows };
}
