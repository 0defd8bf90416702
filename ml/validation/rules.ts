// Row-level rules: the declared record contract (records/: fields, types, ranges, labels), duplicated transaction
// ids and future timestamps. Rows arrive already read by the contract (a record, or its problems).
import type { SnapshotColumns } from '../../dataset/snapshot';
import { type FieldProblem, numericId, type RecordContract, type RecordDeclaration, type Scalar, type TxRecord } from '../../records';
import type { DuplicateIds, FutureTimestamps, RowExample, RuleViolation } from './report';
import { sortValues } from './stats';

const MAX_EXAMPLES = 5;
const MAX_TEXT = 40;

/** One input row as the record contract read it: its record, or its problems and the values as given. */
export type ReadRow =
  | { record: TxRecord; problems?: undefined; line?: number }
  | { record?: undefined; problems: readonly FieldProblem[]; values?: unknown; line?: number };

/** The rows that pass the contract, in input order, as columns. */
export interface ValidRows {
  count: number;
  /** Position of each valid row in the input (0-based). */
  row: Int32Array;
  /** Line of each valid row in its file (0: not from a file). */
  line: Int32Array;
  id: string[];
  /** Event time, seconds since the Unix epoch. */
  timestamp: Float64Array;
  /** The time as the input wrote it (for examples). */
  timeValue: Array<string | number>;
  customer: string[];
  terminal: string[];
  amount: Float64Array;
  /** The label, or 0 when the row has none. */
  fraud: Uint8Array;
}

export interface CheckedRecords {
  total: number;
  /** Rows failing the contract. */
  bad: number;
  /** Most-broken rule first. */
  rules: RuleViolation[];
  valid: ValidRows;
  /** Raw amounts of every row: the finite numbers, and how many were absent or not a finite number. */
  amount: { values: Float64Array; missing: number };
}

/** A JSON-friendly, short rendering of an offending value. */
function exampleValue(value: unknown): RowExample['value'] {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

function fieldOf(values: unknown, field: string): unknown {
  return values !== null && typeof values === 'object' ? (values as Record<string, unknown>)[field] : undefined;
}

/** A raw amount as a number: a JSON number, or the text of one (CSV); NaN otherwise. */
function rawNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return Number.NaN;
}

function example(row: number, line: number | undefined, id: unknown, value?: unknown): RowExample {
  const out: RowExample = { row };
  if (line) out.line = line;
  if (typeof id === 'number' || typeof id === 'string') out.id = String(exampleValue(id));
  if (value !== undefined) out.value = exampleValue(value);
  return out;
}

const NOT_SHOWN = '(pseudonymized field: value not shown)';

/** The columns of the roles the declaration pseudonymizes: a row that failed the contract still holds them raw. */
function rawPersonalColumns(declaration: RecordDeclaration): Set<string> {
  const column = { id: declaration.id, customer: declaration.customer, terminal: declaration.terminal };
  return new Set(declaration.pseudonymize.map((role) => column[role]));
}

/** `column` moved into storage for `capacity` values. */
function grown<T extends Float64Array | Int32Array | Uint8Array>(column: T, capacity: number): T {
  const larger = new (column.constructor as new (length: number) => T)(capacity);
  larger.set(column);
  return larger;
}

/** Gathers rows as the contract read them: the valid ones as columns, every broken rule by declared field with examples. */
class RowCheck {
  private capacity: number;
  private count = 0;
  private readonly valid: Omit<ValidRows, 'count'>;
  /** The finite raw amounts of the rows that fail the contract. */
  private readonly brokenAmounts: number[] = [];
  private readonly violations = new Map<string, RuleViolation>();
  private readonly personal: Set<string>;
  private total = 0;
  private bad = 0;

  /** `capacity`: the valid rows expected (storage grows past it; the text columns grow as arrays do). */
  constructor(
    private readonly declaration: RecordDeclaration,
    capacity = 1024,
  ) {
    this.personal = rawPersonalColumns(declaration);
    this.capacity = capacity;
    this.valid = {
      row: new Int32Array(capacity),
      line: new Int32Array(capacity),
      id: new Array<string>(capacity),
      timestamp: new Float64Array(capacity),
      timeValue: new Array<string | number>(capacity),
      customer: new Array<string>(capacity),
      terminal: new Array<string>(capacity),
      amount: new Float64Array(capacity),
      fraud: new Uint8Array(capacity),
    };
  }

  /** A row the contract read: the next row of the input. */
  record(tx: TxRecord, line = 0): void {
    const { valid } = this;
    const k = this.count++;
    if (k === this.capacity) this.grow();
    valid.row[k] = this.total++;
    valid.line[k] = line;
    valid.id[k] = tx.id;
    valid.timestamp[k] = tx.time;
    valid.timeValue[k] = tx.timeValue;
    valid.customer[k] = tx.customer;
    valid.terminal[k] = tx.terminal;
    valid.amount[k] = tx.amount;
    valid.fraud[k] = tx.label ?? 0;
  }

  private grow(): void {
    const { valid } = this;
    this.capacity = Math.max(1024, 2 * this.capacity);
    valid.row = grown(valid.row, this.capacity);
    valid.line = grown(valid.line, this.capacity);
    valid.timestamp = grown(valid.timestamp, this.capacity);
    valid.amount = grown(valid.amount, this.capacity);
    valid.fraud = grown(valid.fraud, this.capacity);
  }

  /** A row the contract refused, with its values as given: the next row of the input. */
  broken(problems: readonly FieldProblem[], values: unknown, line?: number): void {
    const { declaration, personal, violations } = this;
    const row = this.total++;
    this.bad++;
    const amount = rawNumber(fieldOf(values, declaration.amount));
    if (Number.isFinite(amount)) this.brokenAmounts.push(amount);
    for (const { field, rule } of problems) {
      const key = `${field}\u0000${rule}`;
      let violation = violations.get(key);
      if (!violation) {
        violation = { field, rule, rows: 0, examples: [] };
        violations.set(key, violation);
      }
      violation.rows++;
      if (violation.examples.length < MAX_EXAMPLES) {
        const id = personal.has(declaration.id) ? undefined : fieldOf(values, declaration.id);
        const value = fieldOf(values, field);
        violation.examples.push(example(row, line, id, value !== undefined && personal.has(field) ? NOT_SHOWN : value));
      }
    }
  }

  result(): CheckedRecords {
    const { valid, total, brokenAmounts, count } = this;
    for (const strings of [valid.id, valid.timeValue, valid.customer, valid.terminal]) strings.length = count;
    const amounts = new Float64Array(count + brokenAmounts.length);
    amounts.set(valid.amount.subarray(0, count));
    amounts.set(brokenAmounts, count);
    return {
      total,
      bad: this.bad,
      rules: [...this.violations.values()].sort((a, b) => b.rows - a.rows),
      valid: {
        ...valid,
        count,
        row: valid.row.subarray(0, count),
        line: valid.line.subarray(0, count),
        timestamp: valid.timestamp.subarray(0, count),
        amount: valid.amount.subarray(0, count),
        fraud: valid.fraud.subarray(0, count),
      },
      // Rows in any order: the statistics sort them.
      amount: { values: amounts, missing: total - amounts.length },
    };
  }
}

/** Gathers the valid rows as columns and counts every broken rule, by declared field, with examples. */
export function checkRows(rows: Iterable<ReadRow>, declaration: RecordDeclaration): CheckedRecords {
  const check = new RowCheck(declaration);
  for (const input of rows) {
    if (input.record) check.record(input.record, input.line);
    else check.broken(input.problems, input.values, input.line);
  }
  return check.result();
}

/**
 * checkRows over the labelled rows of a snapshot's columns, each read again by the contract as the messages it came in
 * (transaction and label, as validateRecords reads a record), so ranges or labels declared since are checked too. One
 * message object is refilled per row; a row that fails keeps a copy of it for the examples.
 */
export function checkLabelledColumns(c: SnapshotColumns, contract: RecordContract): CheckedRecords {
  const d = contract.declaration;
  let labelled = 0;
  for (let i = 0; i < c.rows; i++) if (c.fraud[i] >= 0) labelled++;
  const check = new RowCheck(d, labelled);
  const message: Record<string, Scalar> = {};
  const options = { labels: 'required', admitted: true } as const;
  const extras = d.columns.map((column) => ({ name: column.name, values: c.extras[column.name] }));
  const labelExtras = d.labelColumns.map((name) => ({ name, values: c.extras[name] }));
  for (let i = 0; i < c.rows; i++) {
    if (c.fraud[i] < 0) continue;
    message[d.id] = c.transactionId[i];
    message[d.time.column] = c.time[i];
    message[d.customer] = c.customerId[i];
    message[d.terminal] = c.terminalId[i];
    message[d.amount] = c.amount[i];
    for (let e = 0; e < extras.length; e++) message[extras[e].name] = extras[e].values?.[i] ?? null;
    message[d.label] = c.fraud[i];
    for (let e = 0; e < labelExtras.length; e++) {
      const value = labelExtras[e].values?.[i];
      if (value === undefined) delete message[labelExtras[e].name];
      else message[labelExtras[e].name] = value;
    }
    const read = contract.readTransaction(message, options);
    if (read.value) check.record(read.value);
    else check.broken(read.problems, { ...message });
  }
  return check.result();
}

/** Canonical whole-number ids (the handbook's) as their values, or undefined when any id is another string. */
function numericIds(ids: readonly string[]): Float64Array | undefined {
  const values = new Float64Array(ids.length);
  for (let k = 0; k < ids.length; k++) {
    values[k] = numericId(ids[k]);
    if (Number.isNaN(values[k])) return undefined;
  }
  return values;
}

/** The repeated ids of `sorted` (ascending, equal ids adjacent): how many, on how many rows, the first few. */
function repeatsOf<T>(sorted: ArrayLike<T>, show: (value: T) => string): { ids: number; rows: number; repeated: string[] } {
  let ids = 0;
  let rows = 0;
  const repeated: string[] = [];
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] !== sorted[i - 1]) continue;
    const first = i === 1 || sorted[i - 2] !== sorted[i];
    if (first) {
      ids++;
      rows += 2;
      if (repeated.length < MAX_EXAMPLES) repeated.push(show(sorted[i]));
    } else rows++;
  }
  return { ids, rows, repeated };
}

/**
 * Transaction ids carried by more than one valid row, found by sorting a copy of the ids: as numbers when all are
 * canonical whole numbers (equal numbers are then equal strings), else as strings.
 */
export function findDuplicateIds(valid: ValidRows): DuplicateIds {
  const numbers = numericIds(valid.id);
  const { ids, rows, repeated } = numbers ? repeatsOf(sortValues(numbers), String) : repeatsOf(valid.id.slice().sort(), (id) => id);
  const examples = repeated.map((id) => ({ id, rows: [] as number[] }));
  if (examples.length) {
    const byId = new Map(examples.map((e) => [e.id, e.rows]));
    for (let k = 0; k < valid.count; k++) {
      const list = byId.get(valid.id[k]);
      if (list && list.length < MAX_EXAMPLES) list.push(valid.row[k]);
    }
  }
  return { ids, rows, examples };
}

/** Valid rows whose event time is later than `limit` (seconds since the Unix epoch). */
export function findFutureTimestamps(valid: ValidRows, limit: number): FutureTimestamps {
  let rows = 0;
  let latest = -1;
  const examples: RowExample[] = [];
  for (let k = 0; k < valid.count; k++) {
    if (!(valid.timestamp[k] > limit)) continue;
    rows++;
    if (latest < 0 || valid.timestamp[k] > valid.timestamp[latest]) latest = k;
    if (examples.length < MAX_EXAMPLES) examples.push(example(valid.row[k], valid.line[k], valid.id[k], valid.timeValue[k]));
  }
  const result: FutureTimestamps = { rows, limit: new Date(limit * 1000).toISOString(), examples };
  if (latest >= 0) result.latest = String(valid.timeValue[latest]);
  return result;
}
