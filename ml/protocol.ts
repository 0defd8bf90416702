// The handbook's evaluation protocol (HANDBOOK "Protocol"): train on a period, skip the label delay, test on
// the days after it one day at a time, removing from each test day the cards already known to be compromised.
// A validation period (for the decision threshold) is the `validationDays` days just before training: its
// labels are known when the model is trained, and it overlaps neither training nor test.
import { InvalidInputError } from './errors';
import { DAY_SECONDS, type FeatureColumns } from './features';

/** Transactions sorted by time, column by column (a dataset snapshot has this shape); fraud -1: no label yet. */
export interface LabelledTransactions extends FeatureColumns {
  rows: number;
}

export interface ProtocolOptions {
  /** First training day, 'YYYY-MM-DD' (UTC). */
  trainStart: string;
  trainDays: number;
  delayDays: number;
  testDays: number;
  validationDays: number;
}

/** The handbook's split of its simulated data (2018-04-01 to 2018-09-30); other data gets dates that fit it (protocolFor). */
export const HANDBOOK_PROTOCOL: ProtocolOptions = {
  trainStart: '2018-07-25',
  trainDays: 7,
  delayDays: 7,
  testDays: 7,
  validationDays: 7,
};

export interface ProtocolSplit {
  /** Row indices into the transactions, each list in time order. */
  train: number[];
  validation: number[];
  test: number[];
  /** Test day (0-based) of each test row, parallel to `test`. */
  testDay: number[];
  /** Test rows dropped because their card was already known compromised. */
  removedKnownCompromised: number;
  /** End of the test period (epoch seconds, exclusive): features need no transaction after it. */
  end: number;
  periods: Record<'validation' | 'train' | 'test', { from: string; to: string }>;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function dayStart(date: string): number {
  const t = Date.parse(`${date}T00:00:00Z`);
  if (!DATE.test(date) || !Number.isFinite(t)) throw new InvalidInputError(`trainStart "${date}" is not a date YYYY-MM-DD`);
  return t / 1000;
}

const isoDay = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);

/** Splits by time; labels must be known (0/1) on every validation, training and test row. */
export function protocolSplit(data: LabelledTransactions, options: ProtocolOptions): ProtocolSplit {
  for (const key of ['trainDays', 'testDays', 'validationDays'] as const) {
    if (!Number.isInteger(options[key]) || options[key] < 1)
      throw new InvalidInputError(`${key} = ${options[key]}: must be a whole number >= 1`);
  }
  if (!Number.isInteger(options.delayDays) || options.delayDays < 0) {
    throw new InvalidInputError(`delayDays = ${options.delayDays}: must be a whole number >= 0`);
  }
  const trainFrom = dayStart(options.trainStart);
  const trainTo = trainFrom + options.trainDays * DAY_SECONDS;
  const validationFrom = trainFrom - options.validationDays * DAY_SECONDS;
  const testFrom = trainTo + options.delayDays * DAY_SECONDS;
  const end = testFrom + options.testDays * DAY_SECONDS;
  const firstTrainDay = trainFrom / DAY_SECONDS;

  const train: number[] = [];
  const validation: number[] = [];
  const testCandidates: number[] = [];
  const fraudCustomersByDay = new Map<number, Set<string>>();
  for (let i = 0; i < data.rows; i++) {
    const t = data.timestamp[i];
    if (t < validationFrom || t >= end) continue;
    const inUse = t < trainTo || t >= testFrom;
    if (inUse && data.fraud[i] !== 0 && data.fraud[i] !== 1) {
      throw new InvalidInputError(
        `transaction ${data.transactionId[i]} (${isoDay(t)}) has no label; the protocol needs labels on every row it uses`,
      );
    }
    if (data.fraud[i] === 1) {
      const day = Math.floor(t / DAY_SECONDS);
      const set = fraudCustomersByDay.get(day) ?? new Set<string>();
      set.add(data.customerId[i]);
      fraudCustomersByDay.set(day, set);
    }
    if (t < trainFrom) validation.push(i);
    else if (t < trainTo) train.push(i);
    else if (t >= testFrom) testCandidates.push(i);
  }
  if (!train.length) throw new InvalidInputError(`no transaction in the training period ${isoDay(trainFrom)} to ${isoDay(trainTo - 1)}`);
  if (!testCandidates.length) throw new InvalidInputError(`no transaction in the test period ${isoDay(testFrom)} to ${isoDay(end - 1)}`);

  // Known compromised cards: frauds of the training set, then for test day i the frauds of training day + trainDays + i − 1.
  const known = new Set<string>();
  for (const i of train) if (data.fraud[i] === 1) known.add(data.customerId[i]);
  const test: number[] = [];
  const testDay: number[] = [];
  let removed = 0;
  let cursor = 0;
  for (let day = 0; day < options.testDays; day++) {
    for (const customer of fraudCustomersByDay.get(firstTrainDay + options.trainDays + day - 1) ?? []) known.add(customer);
    const dayEnd = testFrom + (day + 1) * DAY_SECONDS;
    for (; cursor < testCandidates.length && data.timestamp[testCandidates[cursor]] < dayEnd; cursor++) {
      const i = testCandidates[cursor];
      if (known.has(data.customerId[i])) removed += 1;
      else {
        test.push(i);
        testDay.push(day);
      }
    }
  }
  return {
    train,
    validation,
    test,
    testDay,
    removedKnownCompromised: removed,
    end,
    periods: {
      validation: { from: isoDay(validationFrom), to: isoDay(trainFrom - 1) },
      train: { from: isoDay(trainFrom), to: isoDay(trainTo - 1) },
      test: { from: isoDay(testFrom), to: isoDay(end - 1) },
    },
  };
}

/**
 * The protocol placed at the end of the data: the test period ends with the last whole day whose transactions
 * are all labelled (labels mature `delayDays` after their transaction), training is the `trainDays` before the
 * delay gap, validation the `validationDays` before training.
 */
export function latestProtocol(data: LabelledTransactions, shape: Omit<ProtocolOptions, 'trainStart'>): ProtocolOptions {
  let lastUnlabelled = -1;
  let lastRow = -1;
  for (let i = 0; i < data.rows; i++) {
    if (data.fraud[i] === 0 || data.fraud[i] === 1) lastRow = i;
    else if (lastUnlabelled < 0 || data.timestamp[i] < data.timestamp[lastUnlabelled]) lastUnlabelled = i;
  }
  if (lastRow < 0) throw new InvalidInputError('the data has no labelled transaction: labels arrive on transaction-labels after the delay');
  // The first unlabelled transaction bounds the matured period; so does the day of the last labelled one.
  const maturedUntil = lastUnlabelled >= 0 ? Math.min(data.timestamp[lastUnlabelled], data.timestamp[lastRow]) : data.timestamp[lastRow];
  const testEndDay = Math.floor(maturedUntil / DAY_SECONDS);
  const trainStartDay = testEndDay - shape.testDays - shape.delayDays - shape.trainDays;
  const firstDay = Math.floor(data.timestamp[0] / DAY_SECONDS);
  if (trainStartDay - shape.validationDays < firstDay) {
    const needed = shape.validationDays + shape.trainDays + shape.delayDays + shape.testDays;
    throw new InvalidInputError(
      `the labelled data covers ${testEndDay - firstDay} whole days (${isoDay(firstDay * DAY_SECONDS)} to ${isoDay(testEndDay * DAY_SECONDS - 1)}); ` +
        `validation ${shape.validationDays} + training ${shape.trainDays} + delay ${shape.delayDays} + test ${shape.testDays} need ${needed}`,
    );
  }
  return { ...shape, trainStart: isoDay(trainStartDay * DAY_SECONDS) };
}

/** Where a protocol's dates came from. */
export type ProtocolPlacement = 'given' | 'handbook' | 'latest';

/**
 * The protocol of an experiment: `trainStart` when given; otherwise the handbook's dates when the data covers their
 * whole span (validation start to test end), so the handbook's figures stay comparable; otherwise, for data of other
 * dates, the protocol placed at the end of the labelled data, as the pipeline does (latestProtocol).
 */
export function protocolFor(
  data: LabelledTransactions,
  shape: Omit<ProtocolOptions, 'trainStart'>,
  trainStart?: string,
): { protocol: ProtocolOptions; placement: ProtocolPlacement } {
  if (trainStart !== undefined) return { protocol: { ...shape, trainStart }, placement: 'given' };
  const handbook = { ...shape, trainStart: HANDBOOK_PROTOCOL.trainStart };
  const from = dayStart(handbook.trainStart) - shape.validationDays * DAY_SECONDS;
  const to = dayStart(handbook.trainStart) + (shape.trainDays + shape.delayDays + shape.testDays) * DAY_SECONDS;
  const covered = data.rows > 0 && data.timestamp[0] < from + DAY_SECONDS && data.timestamp[data.rows - 1] >= to - DAY_SECONDS;
  return covered ? { protocol: handbook, placement: 'handbook' } : { protocol: latestProtocol(data, shape), placement: 'latest' };
}
