// The 15 model inputs of the handbook (DESIGN §4): an incremental state for streaming (one transaction at a time,
// labels later), and batch mode (a time-sorted snapshot) applying the same window rules column by column over typed
// arrays, with the same arithmetic in the same order, so both give identical values (tests/unit/features.test.ts
// compares them bit for bit): the state objects made a million-row batch about 5× slower.
//
// Customer windows cover (t − n days, t], the current transaction included. Terminal windows cover
// (t − (D + n) days, t − D days]: a label is read only when its transaction crosses t − D, so a label
// can never influence a feature earlier than D days after its transaction.
import { numericId } from '../records/ids';
import { InvalidInputError } from './errors';

export const DAY_SECONDS = 86_400;
export const WINDOW_DAYS = [1, 7, 30] as const;
export const DEFAULT_LABEL_DELAY_DAYS = 7;

export const FEATURE_NAMES = [
  'TX_AMOUNT',
  'TX_DURING_WEEKEND',
  'TX_DURING_NIGHT',
  ...WINDOW_DAYS.flatMap((n) => [`CUSTOMER_ID_NB_TX_${n}DAY_WINDOW`, `CUSTOMER_ID_AVG_AMOUNT_${n}DAY_WINDOW`]),
  ...WINDOW_DAYS.flatMap((n) => [`TERMINAL_ID_NB_TX_${n}DAY_WINDOW`, `TERMINAL_ID_RISK_${n}DAY_WINDOW`]),
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];
export const FEATURE_COUNT = FEATURE_NAMES.length;

/** A transaction as the feature code sees it (records/ reads it from any declared feed). Ids are strings. */
export interface FeatureInput {
  transactionId: string;
  /** Seconds since the Unix epoch (UTC). */
  timestamp: number;
  customerId: string;
  terminalId: string;
  amount: number;
}

/**
 * One entity's events in time order. Indices are global (they survive compaction); entries no
 * window needs any more are dropped from the front in amortised O(1).
 */
class EventLog {
  private base = 0;
  times: number[] = [];
  amounts: number[] = [];
  labels: number[] = [];
  ids: string[] = [];
  /** Each id's value when it is a canonical whole number (the handbook's), else NaN: a terminal stores these. */
  idValues: number[] = [];

  /** A log holding entries `base` … `base + times.length − 1` (the columns must have equal lengths). */
  static restore(base: number, columns: Pick<EventLog, 'times' | 'amounts' | 'labels' | 'ids' | 'idValues'>): EventLog {
    const log = new EventLog();
    log.base = base;
    Object.assign(log, columns);
    return log;
  }

  /** Index of the first entry still held. */
  get first(): number {
    return this.base;
  }

  get end(): number {
    return this.base + this.times.length;
  }

  push(time: number, amount: number, id: string, idValue = Number.NaN): number {
    this.times.push(time);
    this.amounts.push(amount);
    this.labels.push(0);
    this.ids.push(id);
    this.idValues.push(idValue);
    return this.end - 1;
  }

  time(index: number): number {
    return this.times[index - this.base];
  }

  amount(index: number): number {
    return this.amounts[index - this.base];
  }

  label(index: number): number {
    return this.labels[index - this.base];
  }

  id(index: number): string {
    return this.ids[index - this.base];
  }

  idValue(index: number): number {
    return this.idValues[index - this.base];
  }

  setLabel(index: number, fraud: number): void {
    if (index >= this.base && index < this.end) this.labels[index - this.base] = fraud;
  }

  /** Drops entries before `keep`; returns the ids dropped. */
  compact(keep: number): string[] {
    const drop = keep - this.base;
    if (drop < 1024 || drop * 2 < this.times.length) return [];
    const dropped = this.ids.slice(0, drop);
    this.times = this.times.slice(drop);
    this.amounts = this.amounts.slice(drop);
    this.labels = this.labels.slice(drop);
    this.ids = this.ids.slice(drop);
    this.idValues = this.idValues.slice(drop);
    this.base = keep;
    return dropped;
  }
}

/** Serialised states start with a kind tag, so a customer record is never read as a terminal one. */
const CUSTOMER_RECORD = 1;
const TERMINAL_RECORD = 2;
/** A terminal record whose entries' ids are all canonical whole numbers: they are a fourth float column, no text. */
const TERMINAL_RECORD_NUMERIC_IDS = 3;

/** The float64s a stored terminal record starts with (from its first four), and whether its ids follow as text. */
export function terminalRecordLayout(header: Float64Array): { floats: number; textIds: boolean } {
  const textIds = header[0] !== TERMINAL_RECORD_NUMERIC_IDS;
  return { floats: 4 + 3 * WINDOWS + (textIds ? 3 : 4) * header[3], textIds };
}
const WINDOWS = WINDOW_DAYS.length;

/** The windows of one customer: (t − n days, t] over its own transactions. */
export class CustomerState {
  log = new EventLog();
  /** Per window: index of the first entry inside it, and the amount sum of the entries inside. */
  start = WINDOW_DAYS.map(() => 0);
  sum = WINDOW_DAYS.map(() => 0);
  /** Timestamp of the latest transaction observed (-Infinity before the first). */
  lastTime = Number.NEGATIVE_INFINITY;

  /**
   * The state as numbers, for a store outside the process: [kind, lastTime, first, count, start…, sum…, times…, amounts…],
   * keeping only the entries a window still needs. Doubles round-trip exactly, so a decoded state computes the same sums.
   */
  encode(): Float64Array {
    const first = Math.min(...this.start);
    const count = this.log.end - first;
    const body = 4 + 2 * WINDOWS;
    const out = new Float64Array(body + 2 * count);
    out[0] = CUSTOMER_RECORD;
    out[1] = this.lastTime;
    out[2] = first;
    out[3] = count;
    for (let w = 0; w < WINDOWS; w++) {
      out[4 + w] = this.start[w];
      out[4 + WINDOWS + w] = this.sum[w];
    }
    for (let i = 0; i < count; i++) {
      out[body + i] = this.log.time(first + i);
      out[body + count + i] = this.log.amount(first + i);
    }
    return out;
  }

  static decode(record: Float64Array): CustomerState {
    if (record[0] !== CUSTOMER_RECORD) throw new InvalidInputError(`not a customer state record (kind ${record[0]})`);
    const state = new CustomerState();
    const [lastTime, first, count] = [record[1], record[2], record[3]];
    const body = 4 + 2 * WINDOWS;
    state.lastTime = lastTime;
    state.start = Array.from(record.subarray(4, 4 + WINDOWS));
    state.sum = Array.from(record.subarray(4 + WINDOWS, body));
    state.log = EventLog.restore(first, {
      times: Array.from(record.subarray(body, body + count)),
      amounts: Array.from(record.subarray(body + count, body + 2 * count)),
      labels: new Array<number>(count).fill(0),
      ids: new Array<string>(count).fill(''),
      idValues: new Array<number>(count).fill(Number.NaN),
    });
    return state;
  }

  observe(tx: FeatureInput, out: Float64Array, offset: number): void {
    const { log } = this;
    this.lastTime = tx.timestamp;
    // A customer's entries need no id: only a terminal's labels are looked up by transaction.
    log.push(tx.timestamp, tx.amount, '');
    for (let w = 0; w < WINDOW_DAYS.length; w += 1) {
      this.sum[w] += tx.amount;
      const from = tx.timestamp - WINDOW_DAYS[w] * DAY_SECONDS;
      while (log.time(this.start[w]) <= from) {
        this.sum[w] -= log.amount(this.start[w]);
        this.start[w] += 1;
      }
      const count = log.end - this.start[w];
      out[offset + 2 * w] = count;
      out[offset + 2 * w + 1] = this.sum[w] / count;
    }
    log.compact(Math.min(...this.start));
  }
}

/** The windows of one terminal: (t − (D + n) days, t − D days] over its transactions, with their labels. */
export class TerminalState {
  log = new EventLog();
  /** Per window: entries in [lower, upper) are inside, and `frauds` sums their labels as read on entry. */
  lower = WINDOW_DAYS.map(() => 0);
  upper = WINDOW_DAYS.map(() => 0);
  frauds = WINDOW_DAYS.map(() => 0);
  /** Timestamp of the latest transaction observed (-Infinity before the first). */
  lastTime = Number.NEGATIVE_INFINITY;
  /** The label each entry had when it crossed the delay edge, so leaving subtracts what entering added. */
  private readonly read = new Map<number, number>();
  /** Entries below this are gone from `read` (an index is pruned once, with no iterator per transaction). */
  private readPrunedBelow = 0;

  constructor(private readonly delaySeconds: number) {}

  /**
   * The state as numbers (see CustomerState.encode): [kind, lastTime, first, count, lower…, upper…, frauds…, times…,
   * labels…, labels as read (NaN: not read yet)…], from the first entry a window still needs; then the entries'
   * transaction ids: as a fourth column when all are canonical whole numbers (ids: null, the handbook's case: no text
   * to build at every write), else as `ids` beside the record. `dropped` lists the ids of the entries left out, whose
   * labels can no longer matter.
   */
  encode(): { record: Float64Array; ids: string[] | null; dropped: string[] } {
    const { log } = this;
    const first = Math.min(...this.lower);
    const count = log.end - first;
    const body = 4 + 3 * WINDOWS;
    let numeric = true;
    for (let index = first; index < log.end && numeric; index++) numeric = !Number.isNaN(log.idValue(index));
    const record = new Float64Array(body + (numeric ? 4 : 3) * count);
    record.set([
      numeric ? TERMINAL_RECORD_NUMERIC_IDS : TERMINAL_RECORD,
      this.lastTime,
      first,
      count,
      ...this.lower,
      ...this.upper,
      ...this.frauds,
    ]);
    const ids = numeric ? null : new Array<string>(count);
    for (let i = 0; i < count; i++) {
      const index = first + i;
      record[body + i] = log.time(index);
      record[body + count + i] = log.label(index);
      record[body + 2 * count + i] = this.read.get(index) ?? Number.NaN;
      if (ids) ids[i] = log.id(index);
      else record[body + 3 * count + i] = log.idValue(index);
    }
    const dropped = log.ids.slice(0, Math.max(0, first - log.first));
    return { record, ids, dropped };
  }

  /** The state encode() gave: `ids` null when the record holds them as numbers. */
  static decode(record: Float64Array, ids: string[] | null, delaySeconds: number): TerminalState {
    if (record[0] !== TERMINAL_RECORD && record[0] !== TERMINAL_RECORD_NUMERIC_IDS)
      throw new InvalidInputError(`not a terminal state record (kind ${record[0]})`);
    const state = new TerminalState(delaySeconds);
    const [lastTime, first, count] = [record[1], record[2], record[3]];
    const body = 4 + 3 * WINDOWS;
    state.lastTime = lastTime;
    state.lower = Array.from(record.subarray(4, 4 + WINDOWS));
    state.upper = Array.from(record.subarray(4 + WINDOWS, 4 + 2 * WINDOWS));
    state.frauds = Array.from(record.subarray(4 + 2 * WINDOWS, body));
    const column = (c: number) => Array.from(record.subarray(body + c * count, body + (c + 1) * count));
    const idValues = record[0] === TERMINAL_RECORD_NUMERIC_IDS ? column(3) : null;
    const textIds = ids ?? idValues?.map(String) ?? [];
    if (textIds.length !== count) throw new InvalidInputError(`terminal state record: ${textIds.length} ids for ${count} entries`);
    state.log = EventLog.restore(first, {
      times: column(0),
      amounts: new Array<number>(count).fill(0),
      ids: textIds,
      idValues: idValues ?? textIds.map(numericId),
      labels: column(1),
    });
    column(2).forEach((label, i) => {
      if (!Number.isNaN(label)) state.read.set(first + i, label);
    });
    state.readPrunedBelow = first;
    return state;
  }

  /** Writes the terminal features of a transaction at `tx.timestamp`, records it, returns its index and the ids no window needs any more. */
  observe(tx: FeatureInput, out: Float64Array, offset: number): { index: number; dropped: string[] } {
    const { log } = this;
    this.lastTime = tx.timestamp;
    const delayEdge = tx.timestamp - this.delaySeconds;
    for (let w = 0; w < WINDOW_DAYS.length; w += 1) {
      while (this.upper[w] < log.end && log.time(this.upper[w]) <= delayEdge) {
        this.frauds[w] += this.readLabel(this.upper[w]);
        this.upper[w] += 1;
      }
      const from = delayEdge - WINDOW_DAYS[w] * DAY_SECONDS;
      while (this.lower[w] < this.upper[w] && log.time(this.lower[w]) <= from) {
        this.frauds[w] -= this.read.get(this.lower[w]) ?? 0;
        this.lower[w] += 1;
      }
      const count = this.upper[w] - this.lower[w];
      out[offset + 2 * w] = count;
      out[offset + 2 * w + 1] = count === 0 ? 0 : this.frauds[w] / count;
    }
    const index = log.push(tx.timestamp, tx.amount, tx.transactionId, numericId(tx.transactionId));
    const keep = Math.min(...this.lower);
    for (; this.readPrunedBelow < keep; this.readPrunedBelow++) this.read.delete(this.readPrunedBelow);
    return { index, dropped: log.compact(keep) };
  }

  /** An entry's label is read once, when it ages past the delay; a later label does not rewrite history. */
  private readLabel(index: number): number {
    let label = this.read.get(index);
    if (label === undefined) {
      label = this.log.label(index);
      this.read.set(index, label);
    }
    return label;
  }

  setLabel(index: number, fraud: number): void {
    this.log.setLabel(index, fraud);
  }
}

/**
 * Online feature state. `observe` computes the features of a transaction (it must come in time
 * order) and records it; `label` records a fraud label whenever it arrives.
 */
export class FeatureState {
  private readonly customers = new Map<string, CustomerState>();
  private readonly terminals = new Map<string, TerminalState>();
  private readonly pending = new Map<string, { terminal: TerminalState; index: number }>();
  private readonly delaySeconds: number;
  private lastTimestamp = Number.NEGATIVE_INFINITY;

  constructor(labelDelayDays = DEFAULT_LABEL_DELAY_DAYS) {
    if (!(labelDelayDays >= 0)) throw new InvalidInputError(`labelDelayDays must be >= 0, got ${labelDelayDays}`);
    this.delaySeconds = labelDelayDays * DAY_SECONDS;
  }

  observe(tx: FeatureInput, out: Float64Array = new Float64Array(FEATURE_COUNT), offset = 0): Float64Array {
    validateFeatureInput(tx);
    if (tx.timestamp < this.lastTimestamp) throw outOfOrder(tx, this.lastTimestamp);
    this.lastTimestamp = tx.timestamp;
    const customer = getOrCreate(this.customers, tx.customerId, () => new CustomerState());
    const terminal = getOrCreate(this.terminals, tx.terminalId, () => new TerminalState(this.delaySeconds));
    const { index, dropped } = observeTransaction(tx, customer, terminal, out, offset);
    for (const id of dropped) this.pending.delete(id);
    this.pending.set(tx.transactionId, { terminal, index });
    return out;
  }

  /** Records the label of an observed transaction; returns false for an unknown transaction id. */
  label(transactionId: string, fraud: 0 | 1): boolean {
    const entry = this.pending.get(transactionId);
    if (!entry) return false;
    entry.terminal.setLabel(entry.index, fraud);
    this.pending.delete(transactionId);
    return true;
  }
}

const outOfOrder = (tx: FeatureInput, previous: number) =>
  new InvalidInputError(
    `transaction ${tx.transactionId}: timestamp ${tx.timestamp} is earlier than the previous one (${previous}); features need time order`,
  );

function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}

/**
 * The one per-transaction step, shared by FeatureState and the online store: writes the 15 features of `tx` at
 * out[offset …] from its customer's and terminal's windows, then records it in both. Returns the terminal entry's
 * index (where its label goes) and the ids of the entries the terminal no longer needs.
 */
export function observeTransaction(
  tx: FeatureInput,
  customer: CustomerState,
  terminal: TerminalState,
  out: Float64Array,
  offset: number,
): { index: number; dropped: string[] } {
  out[offset] = tx.amount;
  calendarFeatures(tx.timestamp, out, offset);
  customer.observe(tx, out, offset + 3);
  return terminal.observe(tx, out, offset + 3 + 2 * WINDOWS);
}

/** Milliseconds a Date can hold (±100 million days); beyond them a Date is invalid. */
const MAX_DATE_MS = 8.64e15;
const DAY_MS = DAY_SECONDS * 1000;

/**
 * TX_DURING_WEEKEND and TX_DURING_NIGHT (UTC) of an event time, at out[offset + 1], out[offset + 2]: what
 * `new Date(timestamp * 1000)`'s getUTCDay and getUTCHours give (whole milliseconds toward zero; an invalid date is
 * neither), without a Date per row.
 */
export function calendarFeatures(timestamp: number, out: Float64Array, offset: number): void {
  const ms = Math.trunc(timestamp * 1000);
  if (!(Math.abs(ms) <= MAX_DATE_MS)) {
    out[offset + 1] = 0;
    out[offset + 2] = 0;
    return;
  }
  const day = Math.floor(ms / DAY_MS);
  const weekday = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
  out[offset + 1] = weekday === 0 || weekday === 6 ? 1 : 0;
  out[offset + 2] = ms - day * DAY_MS < 7 * 3_600_000 ? 1 : 0; // hours 0 … 6
}

/** Throws InvalidInputError naming the field when a transaction cannot have features (non-finite field, negative amount). */
export function validateFeatureInput(tx: FeatureInput): void {
  // Field by field, without a loop over field names: batch mode checks a million rows.
  if (!Number.isFinite(tx.timestamp)) throw invalidInput(tx, `timestamp must be a finite number, got ${tx.timestamp}`);
  if (!Number.isFinite(tx.amount)) throw invalidInput(tx, `amount must be a finite number, got ${tx.amount}`);
  if (typeof tx.transactionId !== 'string' || tx.transactionId === '') throw invalidInput(tx, 'transactionId must be a non-empty string');
  if (typeof tx.customerId !== 'string' || tx.customerId === '') throw invalidInput(tx, 'customerId must be a non-empty string');
  if (typeof tx.terminalId !== 'string' || tx.terminalId === '') throw invalidInput(tx, 'terminalId must be a non-empty string');
  if (tx.amount < 0) throw invalidInput(tx, `amount must be >= 0, got ${tx.amount}`);
}

const invalidInput = (tx: FeatureInput, rule: string) => new InvalidInputError(`transaction ${tx.transactionId}: ${rule}`);

/**
 * Batch mode: features of a time-sorted set of labelled transactions, row-major (n × FEATURE_COUNT).
 * Labels are given to the state as each transaction is seen; the terminal windows only read them
 * after the delay, exactly as in streaming.
 */
export function computeFeatures(
  transactions: ArrayLike<FeatureInput & { fraud: 0 | 1 }>,
  labelDelayDays = DEFAULT_LABEL_DELAY_DAYS,
): Float64Array {
  return batchFeatures(transactions.length, labelDelayDays, (i) => transactions[i]);
}

/** Transactions column by column; `fraud` is 1 for fraud, anything else counts as genuine (e.g. -1: no label yet). */
export interface FeatureColumns {
  transactionId: ArrayLike<string>;
  timestamp: ArrayLike<number>;
  customerId: ArrayLike<string>;
  terminalId: ArrayLike<string>;
  amount: ArrayLike<number>;
  fraud: ArrayLike<number>;
}

/** Batch features of `count` rows of columns, taken in `order` (row indices sorted by time) or as they are. */
export function computeColumnFeatures(
  columns: FeatureColumns,
  count: number,
  labelDelayDays = DEFAULT_LABEL_DELAY_DAYS,
  order?: ArrayLike<number>,
): Float64Array {
  // One input object refilled per row: a million rows allocate nothing per row.
  const tx = { transactionId: '', timestamp: 0, customerId: '', terminalId: '', amount: 0, fraud: 0 };
  return batchFeatures(count, labelDelayDays, (i) => {
    const k = order ? order[i] : i;
    tx.transactionId = columns.transactionId[k];
    tx.timestamp = columns.timestamp[k];
    tx.customerId = columns.customerId[k];
    tx.terminalId = columns.terminalId[k];
    tx.amount = columns.amount[k];
    tx.fraud = columns.fraud[k];
    return tx;
  });
}

/** Each row's entity as 0, 1, … in order of first appearance. */
class EntityIndex {
  private readonly index = new Map<string, number>();
  readonly of: Int32Array;

  constructor(rows: number) {
    this.of = new Int32Array(rows);
  }

  get size(): number {
    return this.index.size;
  }

  set(row: number, id: string): void {
    let entity = this.index.get(id);
    if (entity === undefined) {
      entity = this.index.size;
      this.index.set(id, entity);
    }
    this.of[row] = entity;
  }

  /**
   * Entries laid out entity after entity, each entity's in row order: where each entity's next entry goes (its first
   * one to begin with), and per entity and window (WINDOWS of them) the first entry inside, the entity's first.
   */
  layout(): { next: Int32Array; windowStarts: Int32Array } {
    const next = new Int32Array(this.size);
    for (let i = 0; i < this.of.length; i++) if (this.of[i] + 1 < this.size) next[this.of[i] + 1]++;
    for (let e = 1; e < this.size; e++) next[e] += next[e - 1];
    const windowStarts = new Int32Array(this.size * WINDOWS);
    for (let e = 0; e < this.size; e++) windowStarts.fill(next[e], e * WINDOWS, (e + 1) * WINDOWS);
    return { next, windowStarts };
  }
}

/**
 * CustomerState.observe over all rows at once: the same windows, the same sums in the same order (identical values),
 * with each customer's entries contiguous in typed arrays instead of a log object per customer.
 */
function customerWindows(customers: EntityIndex, time: Float64Array, amount: Float64Array, out: Float64Array): void {
  const { next, windowStarts: start } = customers.layout();
  const sum = new Float64Array(start.length);
  const times = new Float64Array(time.length);
  const amounts = new Float64Array(time.length);
  for (let i = 0; i < time.length; i++) {
    const e = customers.of[i];
    const k = next[e]++;
    const t = time[i];
    times[k] = t;
    amounts[k] = amount[i];
    const o = i * FEATURE_COUNT + 3;
    for (let w = 0; w < WINDOWS; w++) {
      const s = e * WINDOWS + w;
      sum[s] += amount[i];
      const from = t - WINDOW_DAYS[w] * DAY_SECONDS;
      let first = start[s];
      while (times[first] <= from) {
        sum[s] -= amounts[first];
        first++;
      }
      start[s] = first;
      const count = k + 1 - first;
      out[o + 2 * w] = count;
      out[o + 2 * w + 1] = sum[s] / count;
    }
  }
}

/**
 * TerminalState.observe over all rows at once, each row's label known as soon as it is observed (as batch mode sets it):
 * the same windows over the terminal's earlier entries, with each terminal's entries contiguous in typed arrays.
 */
function terminalWindows(terminals: EntityIndex, time: Float64Array, fraud: Uint8Array, delaySeconds: number, out: Float64Array): void {
  const { next, windowStarts: lower } = terminals.layout();
  const upper = lower.slice();
  const frauds = new Int32Array(lower.length);
  const times = new Float64Array(time.length);
  const labels = new Uint8Array(time.length);
  for (let i = 0; i < time.length; i++) {
    const e = terminals.of[i];
    const k = next[e]++;
    const delayEdge = time[i] - delaySeconds;
    const o = i * FEATURE_COUNT + 3 + 2 * WINDOWS;
    for (let w = 0; w < WINDOWS; w++) {
      const s = e * WINDOWS + w;
      let up = upper[s];
      while (up < k && times[up] <= delayEdge) frauds[s] += labels[up++];
      const from = delayEdge - WINDOW_DAYS[w] * DAY_SECONDS;
      let low = lower[s];
      while (low < up && times[low] <= from) frauds[s] -= labels[low++];
      upper[s] = up;
      lower[s] = low;
      const count = up - low;
      out[o + 2 * w] = count;
      out[o + 2 * w + 1] = count === 0 ? 0 : frauds[s] / count;
    }
    times[k] = time[i];
    labels[k] = fraud[i];
  }
}

/**
 * What FeatureState gives for each row followed at once by its label (the same checks, in the same order, and the same
 * values), computed column by column over typed arrays: a million rows make no object per row or per entity.
 * `row(i)` gives row i (it may reuse one object); its fraud is 1 for fraud, anything else genuine.
 */
function batchFeatures(count: number, labelDelayDays: number, row: (i: number) => FeatureInput & { fraud: number }): Float64Array {
  if (!(labelDelayDays >= 0)) throw new InvalidInputError(`labelDelayDays must be >= 0, got ${labelDelayDays}`);
  const time = new Float64Array(count);
  const amount = new Float64Array(count);
  const fraud = new Uint8Array(count);
  const customers = new EntityIndex(count);
  const terminals = new EntityIndex(count);
  let lastTimestamp = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < count; i += 1) {
    const tx = row(i);
    validateFeatureInput(tx);
    if (tx.timestamp < lastTimestamp) throw outOfOrder(tx, lastTimestamp);
    lastTimestamp = tx.timestamp;
    time[i] = tx.timestamp;
    amount[i] = tx.amount;
    fraud[i] = tx.fraud === 1 ? 1 : 0;
    customers.set(i, tx.customerId);
    terminals.set(i, tx.terminalId);
  }
  const out = new Float64Array(count * FEATURE_COUNT);
  for (let i = 0; i < count; i++) {
    out[i * FEATURE_COUNT] = amount[i];
    calendarFeatures(time[i], out, i * FEATURE_COUNT);
  }
  customerWindows(customers, time, amount, out);
  terminalWindows(terminals, time, fraud, labelDelayDays * DAY_SECONDS, out);
  return out;
}
