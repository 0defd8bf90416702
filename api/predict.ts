// POST /predict: request validation and scoring. A body is one item or {transactions: [items]}; an item is either a
// transaction with the declared fields (records:), read by the record contract (which checks every field and
// pseudonymizes the declared roles) with its features from the online feature store, or {features: {<the 15
// features>}} with an optional id under the declared id field. Validation reports every failing field with its rule;
// scoring takes the serving model once, after any feature lookup, so the whole response comes from one model and no
// model is held across an await.
import { encodeExtras, featureSetOf } from '../ml/feature-set';
import { FEATURE_COUNT, type FeatureInput } from '../ml/features';
import type { RecordContract } from '../records/contract';
import type { FieldProblem } from '../records/errors';
import { ID_RULE, idOf } from '../records/ids';
import { inputMismatch, type ServingModel } from '../serving/champion-watcher';
import { scorerFor } from '../serving/forward';
import { featureInputOf } from '../serving/online-features';
import { decisionOf, lateFields, type PredictionRecord, predictionRecord } from '../serving/prediction';
import { invalidRequest, RequestError } from './errors';

/** What the online feature store tells about raw transactions, each as if it were the next one seen. */
export interface FeatureLookup {
  /** rows × FEATURE_COUNT, row-major. */
  features: Float64Array;
  /** Row → event seconds it was older than its card's or terminal's latest transaction (within records.lateness). */
  late: ReadonlyMap<number, number>;
  /** Row → why it has no features (too late, or too far in the future). */
  rejected: ReadonlyMap<number, string>;
}

/** The online feature store as the API uses it: it reads, and never changes, the stored state. */
export interface OnlineFeatures {
  lookup(txs: FeatureInput[]): Promise<FeatureLookup>;
}

/** Feature name → value: the handbook's 15, then the declared columns' inputs (ml/feature-set.ts). */
export type FeatureValues = Record<string, number>;

/** A validated item: explicit features (the request's own object, echoed in the answer) or a raw transaction. */
export type PredictItem = { kind: 'features'; given: FeatureValues; id?: string } | { kind: 'transaction'; tx: FeatureInput; id: string };

export interface PredictRequest {
  batch: boolean;
  items: PredictItem[];
  /** The input names, in row order: the declaration's feature set. */
  names: readonly string[];
  /** items × names.length, row-major: explicit features and transactions' declared columns filled in, the rest left for featureRows. */
  rows: Float64Array;
}

/** The request's complete feature rows, and the items that were late (item index → event seconds). */
export interface RequestFeatures {
  rows: Float64Array;
  late: Map<number, number>;
}

interface Rule {
  ok: (value: number) => boolean;
  rule: string;
}

// An imported binding compiles to a property getter under tsx; a module constant keeps it out of the per-row loops.
const CORE = FEATURE_COUNT;

/** The range of each input, as ml/features.ts and ml/feature-set.ts compute it from records within the declaration. */
function featureRules(contract: RecordContract, names: readonly string[]): Rule[] {
  const [lo, hi] = contract.declaration.bounds.amount;
  const count: Rule = { ok: (v) => Number.isSafeInteger(v) && v >= 0, rule: 'must be an integer >= 0' };
  const flag: Rule = { ok: (v) => v === 0 || v === 1, rule: 'must be 0 or 1' };
  const share: Rule = { ok: (v) => v >= 0 && v <= 1, rule: 'must be a number in [0, 1]' };
  const amount: Rule = { ok: (v) => v >= lo && v <= hi, rule: `must be a number in [${lo}, ${hi}] (records.bounds.amount)` };
  const ranges = new Map(contract.declaration.columns.map((c) => [c.name, c.range]));
  return names.map((name, j) => {
    if (j >= CORE) {
      const range = ranges.get(name);
      if (!range) return flag; // a categorical column's hashed indicator
      return {
        ok: (v) => v >= range[0] && v <= range[1],
        rule: `must be a number in [${range[0]}, ${range[1]}] (records.columns.${name})`,
      };
    }
    if (name.includes('_NB_TX_')) return count;
    if (name.includes('_RISK_')) return share;
    if (name.startsWith('TX_DURING_')) return flag;
    return amount; // TX_AMOUNT and the customers' average amounts
  });
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

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

/** Reads request bodies by one record contract (its declared field names, id rule, time format and amount bounds). */
export class PredictRequestReader {
  private readonly idField: string;
  private readonly set;
  private readonly names: readonly string[];
  private readonly width: number;
  private readonly known: Set<string>;
  private readonly rules: Rule[];
  private readonly featuresItemFields: Set<string>;

  constructor(
    private readonly contract: RecordContract,
    private readonly maxBatchRows: number,
  ) {
    const d = contract.declaration;
    this.idField = d.id;
    this.set = featureSetOf(d);
    this.names = this.set.names;
    this.width = this.names.length;
    this.known = new Set(this.names);
    this.rules = featureRules(contract, this.names);
    this.featuresItemFields = new Set(['features', d.id]);
  }

  /** Checks a decoded body; throws RequestError (400 with every problem, 413 for a batch over maxBatchRows). */
  read(body: unknown): PredictRequest {
    const problems: FieldProblem[] = [];
    if (!isObject(body) || !('transactions' in body)) {
      const rows = new Float64Array(this.width);
      const item = this.item(body, rows, 0, '', problems);
      if (problems.length || !item) throw invalidRequest(problems);
      return { batch: false, items: [item], names: this.names, rows };
    }
    for (const key in body) {
      if (key !== 'transactions') problems.push({ field: key, rule: 'is not allowed (a batch has: transactions)' });
    }
    const list = body.transactions;
    const max = this.maxBatchRows;
    const rule = `must be an array of 1 to ${max} items (transactions or {features})`;
    if (!Array.isArray(list) || list.length === 0) throw invalidRequest([...problems, { field: 'transactions', rule }]);
    if (list.length > max) {
      throw new RequestError(413, 'batch-too-large', `a batch holds at most ${max} items (serving.maxBatchRows); got ${list.length}`, [
        { field: 'transactions', rule: `${rule}; got ${list.length}` },
      ]);
    }
    const rows = new Float64Array(list.length * this.width);
    const items: PredictItem[] = [];
    for (let i = 0; i < list.length; i++) {
      const item = this.item(list[i], rows, i * this.width, itemPath(true, i), problems);
      if (item) items.push(item);
    }
    if (problems.length) throw invalidRequest(problems);
    return { batch: true, items, names: this.names, rows };
  }

  private item(value: unknown, rows: Float64Array, offset: number, where: string, problems: FieldProblem[]): PredictItem | undefined {
    if (!isObject(value)) {
      problems.push({ field: where ? where.slice(0, -1) : '(body)', rule: 'must be a JSON object' });
      return undefined;
    }
    return 'features' in value
      ? this.featuresItem(value, rows, offset, where, problems)
      : this.transactionItem(value, rows, offset, where, problems);
  }

  /** Writes the item's features to rows[offset …]. */
  private featuresItem(
    item: Record<string, unknown>,
    rows: Float64Array,
    offset: number,
    where: string,
    problems: FieldProblem[],
  ): PredictItem {
    for (const key in item) {
      if (!this.featuresItemFields.has(key)) {
        problems.push({
          field: where + key,
          rule: `is not allowed (an item with features has: ${[...this.featuresItemFields].join(', ')})`,
        });
      }
    }
    let id: string | undefined;
    if (item[this.idField] !== undefined) {
      id = idOf(item[this.idField]);
      if (id === undefined) problems.push({ field: where + this.idField, rule: ID_RULE });
    }
    const features = item.features;
    if (!isObject(features)) {
      problems.push({ field: `${where}features`, rule: `must be an object of the ${this.width} features (${this.names.join(', ')})` });
      return { kind: 'features', given: {} as FeatureValues, id };
    }
    const featuresWhere = `${where}features.`;
    for (let j = 0; j < this.width; j++) rows[offset + j] = numberField(features, this.names[j], this.rules[j], featuresWhere, problems);
    for (const key in features) {
      if (!this.known.has(key)) problems.push({ field: featuresWhere + key, rule: 'is not a feature of the model (see GET /model)' });
    }
    // Validated to hold exactly the features, each a number: safe to echo as it is.
    return { kind: 'features', given: features as FeatureValues, id };
  }

  /**
   * A transaction as the record contract reads it (declared fields only, dropped ones ignored, declared roles
   * pseudonymized). The answer carries the id as the client sent it, so the client can match it.
   */
  private transactionItem(
    item: Record<string, unknown>,
    rows: Float64Array,
    offset: number,
    where: string,
    problems: FieldProblem[],
  ): PredictItem | undefined {
    const read = this.contract.readTransaction(item, { labels: 'absent', strict: true, where });
    if (!read.value) {
      problems.push(...read.problems);
      return undefined;
    }
    const record = read.value;
    encodeExtras(this.set, (column) => record.extras[column], rows, offset);
    return { kind: 'transaction', tx: featureInputOf(record), id: idOf(item[this.idField]) ?? record.id };
  }
}

/** The path prefix of item `i`'s fields in a problem. */
const itemPath = (batch: boolean, i: number) => (batch ? `transactions[${i}].` : '');

/** The store's features; a store that cannot answer is a 503. */
async function lookupFeatures(store: OnlineFeatures, txs: FeatureInput[]): Promise<FeatureLookup> {
  try {
    return await store.lookup(txs);
  } catch (err) {
    throw new RequestError(503, 'features-unavailable', 'the online feature store is unavailable; send {features} or retry', [], err);
  }
}

/**
 * The request's feature rows, complete: the raw transactions' rows looked up in one call to the store. A transaction
 * the store refuses (later than records.lateness, or past records.maxFuture) is a 400 naming its declared time field.
 */
export async function featureRows(
  { batch, items, names, rows }: PredictRequest,
  store: OnlineFeatures | undefined,
  timeField: string,
): Promise<RequestFeatures> {
  const late = new Map<number, number>();
  const lookups: number[] = [];
  items.forEach((item, i) => {
    if (item.kind === 'transaction') lookups.push(i);
  });
  if (!lookups.length) return { rows, late };
  if (!store) {
    throw new RequestError(
      503,
      'features-unavailable',
      'raw transactions need the online feature store, which this server does not have; send {features}',
    );
  }
  const txs = lookups.map((i) => (items[i] as Extract<PredictItem, { kind: 'transaction' }>).tx);
  const looked = await lookupFeatures(store, txs);
  if (looked.rejected.size) {
    const problems: FieldProblem[] = [];
    for (const [k, why] of looked.rejected) {
      // The store names the transaction; the field path already says which item it is.
      const prefix = `transaction ${txs[k].transactionId}: `;
      problems.push({ field: itemPath(batch, lookups[k]) + timeField, rule: why.startsWith(prefix) ? why.slice(prefix.length) : why });
    }
    throw invalidRequest(problems);
  }
  const width = names.length;
  lookups.forEach((i, k) => {
    rows.set(looked.features.subarray(k * CORE, (k + 1) * CORE), i * width);
  });
  for (const [k, seconds] of looked.late) late.set(lookups[k], seconds);
  return { rows, late };
}

/** Scores of the rows by one model. */
export interface Scored {
  version: string;
  predictions: PredictionRecord[];
  /** How many decisions are 'fraud'. */
  frauds: number;
}

/** Explicit features echo the request's own object (cheaper to serialise than a new one); looked-up ones get one. */
function featureValues(item: PredictItem, names: readonly string[], rows: Float64Array, i: number): FeatureValues {
  if (item.kind === 'features') return item.given;
  const values: FeatureValues = {};
  const width = names.length;
  for (let j = 0; j < width; j++) values[names[j]] = rows[i * width + j];
  return values;
}

/**
 * The predictions, each under the declared id field (`idField`), late ones marked. A champion trained on other inputs
 * than the declaration gives (another records: declaration) cannot score them: 503.
 */
export function score(model: ServingModel, { items, names }: PredictRequest, { rows, late }: RequestFeatures, idField: string): Scored {
  const mismatch = inputMismatch(model, names);
  if (mismatch) throw new RequestError(503, 'no-model', mismatch);
  const scores = scorerFor(model.loaded)(rows, items.length);
  const { threshold } = model.loaded;
  let frauds = 0;
  const predictions = items.map((item, i) => {
    const decision = decisionOf(scores[i], threshold);
    if (decision === 'fraud') frauds++;
    const features = featureValues(item, names, rows, i);
    return predictionRecord(idField, item.id, { score: scores[i], decision, features, ...lateFields(late.get(i)) });
  });
  return { version: model.version, predictions, frauds };
}
