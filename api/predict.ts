// POST /predict: request validation and scoring. A body is one item or {transactions: [items]}; an item is either a
// raw transaction (its features come from the online feature store) or {features: {<the 15 features>}}. Validation
// reports every failing field with its rule; scoring takes the serving model once, after any feature lookup, so the
// whole response comes from one model and no model is held across an await.
import type { ServingModel } from '../clients/champion-watcher';
import { InvalidInputError } from '../ml/errors';
import { FEATURE_COUNT, FEATURE_NAMES, type FeatureInput, type FeatureName } from '../ml/features';
import { parseTxDatetime } from '../simulator/schema';
import { type FieldProblem, invalidRequest, RequestError } from './errors';
import { scorerFor } from './forward';

/** The online feature store as the API uses it: features of transactions as if each were the next one seen. */
export interface OnlineFeatures {
  /** rows × FEATURE_COUNT, row-major; does not change the stored state. */
  peek(txs: FeatureInput[]): Promise<Float64Array>;
}

/** A validated item: explicit features (the request's own object, echoed in the answer) or a raw transaction. */
export type PredictItem = { kind: 'features'; given: FeatureValues; id?: number } | { kind: 'transaction'; tx: FeatureInput; id: number };

export type FeatureValues = Record<FeatureName, number>;

export interface Prediction {
  TRANSACTION_ID?: number;
  score: number;
  decision: 'fraud' | 'legit';
  /** The feature values the score was computed from. */
  features: FeatureValues;
}

export interface PredictRequest {
  batch: boolean;
  items: PredictItem[];
  /** items × FEATURE_COUNT, row-major: explicit features filled in, raw transactions' rows left for featureRows. */
  rows: Float64Array;
}

interface Rule {
  ok: (value: number) => boolean;
  rule: string;
}

const isCount = (v: number) => Number.isSafeInteger(v) && v >= 0;
const nonNegative: Rule = { ok: (v) => Number.isFinite(v) && v >= 0, rule: 'must be a finite number >= 0' };
const count: Rule = { ok: isCount, rule: 'must be an integer >= 0' };
const flag: Rule = { ok: (v) => v === 0 || v === 1, rule: 'must be 0 or 1' };
const share: Rule = { ok: (v) => v >= 0 && v <= 1, rule: 'must be a number in [0, 1]' };

// Imported bindings compile to property getters under tsx; module constants keep them out of the per-row loops.
const NAMES: readonly FeatureName[] = FEATURE_NAMES;
const WIDTH = FEATURE_COUNT;

/** The range of each feature, as ml/features.ts computes it. */
const FEATURE_RULES: Rule[] = NAMES.map((name) => {
  if (name.includes('_NB_TX_')) return count;
  if (name.includes('_RISK_')) return share;
  if (name.startsWith('TX_DURING_')) return flag;
  return nonNegative; // TX_AMOUNT and the customers' average amounts
});
const FEATURE_SET = new Set<string>(FEATURE_NAMES);

const TRANSACTION_FIELDS = ['TRANSACTION_ID', 'TX_DATETIME', 'CUSTOMER_ID', 'TERMINAL_ID', 'TX_AMOUNT'] as const;
const TRANSACTION_FIELD_SET = new Set<string>(TRANSACTION_FIELDS);
const FEATURES_ITEM_FIELDS = new Set(['features', 'TRANSACTION_ID']);
const DATETIME_RULE = "must be a UTC date 'YYYY-MM-DD HH:MM:SS'";

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Fields of `record` outside `allowed`, each reported as not allowed with the list of those that are. */
function unknownFields(record: Record<string, unknown>, allowed: Set<string>, where: string, what: string, problems: FieldProblem[]): void {
  for (const key in record) {
    if (!allowed.has(key)) problems.push({ field: `${where}${key}`, rule: `is not allowed (${what}: ${[...allowed].join(', ')})` });
  }
}

/**
 * A number field `record[key]`, reported as `where + key`: 'is required' when absent or null, 'must be a number' for
 * another type, else the range rule. The path is only built for a problem (this runs for every feature of every row).
 */
function numberField(record: Record<string, unknown>, key: string, rule: Rule, where: string, problems: FieldProblem[]): number {
  const value = record[key];
  if (typeof value === 'number' && rule.ok(value)) return value;
  const field = where + key;
  if (value === undefined || value === null) problems.push({ field, rule: 'is required' });
  else problems.push({ field, rule: typeof value === 'number' ? rule.rule : `must be a number (got ${typeof value})` });
  return Number.NaN;
}

/** Writes the item's features to rows[offset …]. */
function parseFeaturesItem(
  item: Record<string, unknown>,
  rows: Float64Array,
  offset: number,
  where: string,
  problems: FieldProblem[],
): PredictItem {
  unknownFields(item, FEATURES_ITEM_FIELDS, where, 'an item with features has', problems);
  const id = item.TRANSACTION_ID === undefined ? undefined : numberField(item, 'TRANSACTION_ID', count, where, problems);
  const features = item.features;
  if (!isObject(features)) {
    problems.push({ field: `${where}features`, rule: `must be an object of the ${WIDTH} features (${NAMES.join(', ')})` });
    return { kind: 'features', given: {} as FeatureValues, id };
  }
  const featuresWhere = `${where}features.`;
  for (let j = 0; j < WIDTH; j++) rows[offset + j] = numberField(features, NAMES[j], FEATURE_RULES[j], featuresWhere, problems);
  for (const key in features) {
    if (!FEATURE_SET.has(key)) problems.push({ field: `${where}features.${key}`, rule: 'is not a feature of the model (see GET /model)' });
  }
  // Validated to hold exactly the features, each a number: safe to echo as it is.
  return { kind: 'features', given: features as FeatureValues, id };
}

function parseTransactionItem(item: Record<string, unknown>, where: string, problems: FieldProblem[]): PredictItem {
  unknownFields(item, TRANSACTION_FIELD_SET, where, 'a transaction has', problems);
  const transactionId = numberField(item, 'TRANSACTION_ID', count, where, problems);
  const datetime = item.TX_DATETIME;
  const timestamp = typeof datetime === 'string' ? parseTxDatetime(datetime) : Number.NaN;
  if (datetime === undefined || datetime === null) problems.push({ field: `${where}TX_DATETIME`, rule: 'is required' });
  else if (!Number.isFinite(timestamp)) problems.push({ field: `${where}TX_DATETIME`, rule: DATETIME_RULE });
  const customerId = numberField(item, 'CUSTOMER_ID', count, where, problems);
  const terminalId = numberField(item, 'TERMINAL_ID', count, where, problems);
  const amount = numberField(item, 'TX_AMOUNT', nonNegative, where, problems);
  return { kind: 'transaction', tx: { transactionId, timestamp, customerId, terminalId, amount }, id: transactionId };
}

function parseItem(value: unknown, rows: Float64Array, offset: number, where: string, problems: FieldProblem[]): PredictItem | undefined {
  if (!isObject(value)) {
    problems.push({ field: where ? where.slice(0, -1) : '(body)', rule: 'must be a JSON object' });
    return undefined;
  }
  return 'features' in value ? parseFeaturesItem(value, rows, offset, where, problems) : parseTransactionItem(value, where, problems);
}

/** Checks a decoded body; throws RequestError (400 with every problem, 413 for a batch over `maxBatchRows`). */
export function parsePredictRequest(body: unknown, maxBatchRows: number): PredictRequest {
  const problems: FieldProblem[] = [];
  if (!isObject(body) || !('transactions' in body)) {
    const rows = new Float64Array(WIDTH);
    const item = parseItem(body, rows, 0, '', problems);
    if (problems.length || !item) throw invalidRequest(problems);
    return { batch: false, items: [item], rows };
  }
  unknownFields(body, new Set(['transactions']), '', 'a batch has', problems);
  const list = body.transactions;
  const rule = `must be an array of 1 to ${maxBatchRows} items (transactions or {features})`;
  if (!Array.isArray(list) || list.length === 0) throw invalidRequest([...problems, { field: 'transactions', rule }]);
  if (list.length > maxBatchRows) {
    throw new RequestError(
      413,
      'batch-too-large',
      `a batch holds at most ${maxBatchRows} items (serving.maxBatchRows); got ${list.length}`,
      [{ field: 'transactions', rule: `${rule}; got ${list.length}` }],
    );
  }
  const rows = new Float64Array(list.length * WIDTH);
  const items: PredictItem[] = [];
  for (let i = 0; i < list.length; i++) {
    const item = parseItem(list[i], rows, i * WIDTH, `transactions[${i}].`, problems);
    if (item) items.push(item);
  }
  if (problems.length) throw invalidRequest(problems);
  return { batch: true, items, rows };
}

/** The store's features; a transaction it refuses (e.g. older than its customer's latest) is the client's 400. */
async function peekFeatures(store: OnlineFeatures, txs: FeatureInput[]): Promise<Float64Array> {
  try {
    return await store.peek(txs);
  } catch (err) {
    if (err instanceof InvalidInputError) throw invalidRequest([{ field: '(transactions)', rule: err.message }]);
    throw new RequestError(503, 'features-unavailable', 'the online feature store is unavailable; send {features} or retry', [], err);
  }
}

/** The request's feature rows, complete: the raw transactions' rows looked up in one call to the store. */
export async function featureRows({ items, rows }: PredictRequest, store: OnlineFeatures | undefined): Promise<Float64Array> {
  const lookups: number[] = [];
  items.forEach((item, i) => {
    if (item.kind === 'transaction') lookups.push(i);
  });
  if (!lookups.length) return rows;
  if (!store) {
    throw new RequestError(
      503,
      'features-unavailable',
      'raw transactions need the online feature store, which this server does not have; send {features}',
    );
  }
  const looked = await peekFeatures(
    store,
    lookups.map((i) => (items[i] as Extract<PredictItem, { kind: 'transaction' }>).tx),
  );
  lookups.forEach((i, k) => {
    rows.set(looked.subarray(k * WIDTH, (k + 1) * WIDTH), i * WIDTH);
  });
  return rows;
}

/** Scores of the rows by one model. */
export interface Scored {
  version: string;
  predictions: Prediction[];
  /** How many decisions are 'fraud'. */
  frauds: number;
}

/** Explicit features echo the request's own object (cheaper to serialise than a new one); looked-up ones get one. */
function featureValues(item: PredictItem, rows: Float64Array, i: number): FeatureValues {
  if (item.kind === 'features') return item.given;
  const values = {} as FeatureValues;
  for (let j = 0; j < WIDTH; j++) values[NAMES[j]] = rows[i * WIDTH + j];
  return values;
}

export function score(model: ServingModel, items: PredictItem[], rows: Float64Array): Scored {
  const scores = scorerFor(model.loaded)(rows, items.length);
  const { threshold } = model.loaded;
  let frauds = 0;
  const predictions = items.map((item, i): Prediction => {
    const fraud = scores[i] >= threshold;
    if (fraud) frauds++;
    const prediction: Prediction = { score: scores[i], decision: fraud ? 'fraud' : 'legit', features: featureValues(item, rows, i) };
    return item.id === undefined ? prediction : { TRANSACTION_ID: item.id, ...prediction };
  });
  return { version: model.version, predictions, frauds };
}
