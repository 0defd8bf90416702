// The record contract: reads a transaction or a label (a Kafka message, a CSV row, a /predict item) by the
// declaration, checks every field, pseudonymizes the declared roles, and writes the messages fraudops publishes.
// Every problem names the declared field and its rule; fields the declaration drops are never read or copied.

import { type TimeReader, timeReader } from './datetime';
import { type ColumnSpec, type IdRole, type RecordDeclaration, transactionColumns } from './declaration';
import type { FieldProblem } from './errors';
import { encodeId, ID_RULE, type IdEncoding, idOf } from './ids';
import type { Pseudonymizer } from './pseudonym';

export type Scalar = string | number | boolean | null;

/**
 * Kafka header on the messages fraudops' own producer publishes: the record already passed the boundary (dropped
 * columns gone, declared roles pseudonymized), so a reader must not pseudonymize it again.
 */
export const ADMITTED_HEADER = 'fraudops-admitted';
const ADMITTED_HEADERS: Readonly<Record<string, string>> = Object.freeze({ [ADMITTED_HEADER]: '1' });

/** A transaction as every module sees it, whatever the source's field names. */
export interface TxRecord {
  /** The transaction id as given (or its pseudonym). */
  id: string;
  /** Event time, seconds since the Unix epoch. */
  time: number;
  /** The time as the source wrote it: republished unchanged. */
  timeValue: string | number;
  /** The card (customer) id as given, or its pseudonym. */
  customer: string;
  /** The terminal (merchant) id as given, or its pseudonym. */
  terminal: string;
  amount: number;
  /** The fraud label, when the source carried one. */
  label?: 0 | 1;
  /** Declared extra columns (and label columns, with a label): numbers, strings, or null when absent. */
  extras: Record<string, Scalar>;
}

/** A label message: which transaction, and whether it was fraud. */
export interface LabelRecord {
  id: string;
  customer?: string;
  label: 0 | 1;
  /** The declared label columns present on the message. */
  extras: Record<string, Scalar>;
}

/** 'absent': a transaction message (labels travel apart); 'required': a labelled row; 'optional': either. */
export type LabelRule = 'absent' | 'required' | 'optional';

export interface ReadOptions {
  labels?: LabelRule;
  /** Values were read from text (CSV): numeric strings count as numbers, 'true'/'false' as labels. */
  text?: boolean;
  /** The values already passed a fraudops boundary (its producer): declared roles are pseudonyms already. */
  admitted?: boolean;
  /** Fields outside the declaration are problems (the API), not ignored (a feed may carry more). */
  strict?: boolean;
  /** Read the `carried` columns too (default); a reader that only scores may skip them. */
  carried?: boolean;
  /** Prefix of every problem's field, e.g. `transactions[3].`. */
  where?: string;
}

export type ReadResult<T> = { value: T; problems: [] } | { value?: undefined; problems: FieldProblem[] };

const NUMERIC_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function numberOf(value: unknown, text: boolean): number {
  if (typeof value === 'number') return value;
  if (text && typeof value === 'string' && NUMERIC_TEXT.test(value)) return Number(value);
  return Number.NaN;
}

function labelOf(value: unknown): 0 | 1 | undefined {
  if (value === 0 || value === false || value === '0' || value === 'false') return 0;
  if (value === 1 || value === true || value === '1' || value === 'true') return 1;
  return undefined;
}

const isScalar = (value: unknown): value is Scalar =>
  value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

const LABEL_RULE = 'must be 0 or 1 (or false / true)';

/** A field holds a value: absent, null and the empty string (an empty CSV cell) are no value. */
const present = (raw: Record<string, unknown>, field: string) => raw[field] !== undefined && raw[field] !== null && raw[field] !== '';

/** The problems of one record, each field prefixed with where the record sits (e.g. `transactions[3].`). */
class Problems {
  /** Allocated at the first problem: most records have none, and readers see millions of them. */
  private found: FieldProblem[] | undefined;

  constructor(private readonly where: string) {}

  get list(): FieldProblem[] {
    return this.found ?? [];
  }

  get any(): boolean {
    return this.found !== undefined;
  }

  add(field: string, rule: string): void {
    this.found ??= [];
    this.found.push({ field: this.where + field, rule });
  }
}

/** The `problems` of every valid record (never modified). */
const NO_PROBLEMS = Object.freeze([]) as unknown as [];

export class RecordContract {
  private readonly time: TimeReader;
  private readonly known: Set<string>;
  private readonly dropped: Set<string>;
  private readonly pseudonymized: Record<IdRole, boolean>;
  private readonly amountRule: string;

  constructor(
    readonly declaration: RecordDeclaration,
    private readonly pseudonym?: Pseudonymizer,
  ) {
    if (declaration.pseudonymize.length && !pseudonym)
      throw new Error(`records.pseudonymize lists ${declaration.pseudonymize.join(', ')}: a pseudonymization key is needed`);
    this.time = timeReader(declaration.time);
    this.known = new Set([...transactionColumns(declaration), declaration.label, ...declaration.labelColumns]);
    this.dropped = new Set(declaration.drop);
    this.pseudonymized = { id: false, customer: false, terminal: false };
    for (const role of declaration.pseudonymize) this.pseudonymized[role] = true;
    const [lo, hi] = declaration.bounds.amount;
    this.amountRule = `must be a number in [${lo}, ${hi}] (records.bounds.amount)`;
  }

  /**
   * The headers fraudops' own producer sets on what it publishes: the admitted mark, when the declaration
   * pseudonymizes a role (its readers must then not pseudonymize again); none otherwise, as there is nothing it would
   * change and a header on every message costs the brokers' readers a decoded header each.
   */
  get admittedHeaders(): Readonly<Record<string, string>> | undefined {
    return this.declaration.pseudonymize.length ? ADMITTED_HEADERS : undefined;
  }

  /** The rule of the time field, for messages and help. */
  get timeRule(): string {
    return this.time.rule;
  }

  /** Seconds since the epoch of a time value in the declared format, or NaN. */
  readTime(value: unknown): number {
    return this.time.read(value);
  }

  /** The declared fields a request or a message may hold (roles, extra columns, label and label columns). */
  get fields(): string[] {
    return [...this.known];
  }

  readTransaction(value: unknown, options: ReadOptions = {}): ReadResult<TxRecord> {
    const where = options.where ?? '';
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { problems: [{ field: where ? where.replace(/\.$/, '') : '(record)', rule: 'must be a JSON object' }] };
    }
    const raw = value as Record<string, unknown>;
    const d = this.declaration;
    const text = options.text ?? false;
    const problems = new Problems(where);

    const id = this.readId(raw, d.id, 'id', options, problems);
    const customer = this.readId(raw, d.customer, 'customer', options, problems);
    const terminal = this.readId(raw, d.terminal, 'terminal', options, problems);

    const timeValue = raw[d.time.column];
    const time = this.time.read(timeValue);
    if (!present(raw, d.time.column)) problems.add(d.time.column, 'is required');
    else if (!Number.isFinite(time)) problems.add(d.time.column, this.time.rule);

    const amount = numberOf(raw[d.amount], text);
    const [lo, hi] = d.bounds.amount;
    if (!present(raw, d.amount)) problems.add(d.amount, 'is required');
    else if (!(amount >= lo && amount <= hi)) problems.add(d.amount, this.amountRule);

    const extras: Record<string, Scalar> = {};
    const carried = options.carried ?? true;
    for (const column of d.columns) {
      if (carried || column.kind !== 'carried') extras[column.name] = this.readColumn(raw, column, text, problems);
    }

    let label: 0 | 1 | undefined;
    const rule = options.labels ?? 'absent';
    if (rule === 'absent') {
      if (present(raw, d.label)) problems.add(d.label, 'must be absent: labels travel on the label topic');
    } else if (present(raw, d.label) || rule === 'required') {
      label = labelOf(raw[d.label]);
      if (!present(raw, d.label)) problems.add(d.label, 'is required');
      else if (label === undefined) problems.add(d.label, LABEL_RULE);
      for (const name of d.labelColumns) extras[name] = this.readCarried(raw, name, text, problems);
    }

    if (options.strict) {
      for (const key in raw) {
        if (!this.known.has(key) && !this.dropped.has(key))
          problems.add(key, `is not a declared field (records: ${[...this.known].filter((f) => f !== d.label).join(', ')})`);
      }
    }
    if (problems.any) return { problems: problems.list };
    return {
      value: { id, time, timeValue: timeValue as string | number, customer, terminal, amount, label, extras },
      problems: NO_PROBLEMS,
    };
  }

  readLabel(value: unknown, options: ReadOptions = {}): ReadResult<LabelRecord> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { problems: [{ field: '(record)', rule: 'must be a JSON object' }] };
    }
    const raw = value as Record<string, unknown>;
    const d = this.declaration;
    const problems = new Problems(options.where ?? '');
    const id = this.readId(raw, d.id, 'id', options, problems);
    const label = labelOf(raw[d.label]);
    if (raw[d.label] === undefined || raw[d.label] === null) problems.add(d.label, 'is required');
    else if (label === undefined) problems.add(d.label, LABEL_RULE);
    const customer =
      raw[d.customer] === undefined || raw[d.customer] === null ? undefined : this.readId(raw, d.customer, 'customer', options, problems);
    const extras: Record<string, Scalar> = {};
    for (const name of d.labelColumns)
      if (raw[name] !== undefined) extras[name] = this.readCarried(raw, name, options.text ?? false, problems);
    if (problems.any || label === undefined) return { problems: problems.list };
    return { value: { id, customer, label, extras }, problems: NO_PROBLEMS };
  }

  /** The message fraudops publishes for a transaction: declared names, no label, pseudonyms, nothing dropped. */
  transactionMessage(record: TxRecord, ids: IdEncoding = 'string'): Record<string, Scalar> {
    const d = this.declaration;
    const message: Record<string, Scalar> = {
      [d.id]: encodeId(record.id, ids),
      [d.time.column]: record.timeValue,
      [d.customer]: encodeId(record.customer, ids),
      [d.terminal]: encodeId(record.terminal, ids),
      [d.amount]: record.amount,
    };
    for (const column of d.columns) message[column.name] = record.extras[column.name] ?? null;
    return message;
  }

  /** The label message of a labelled transaction: id, card (for partitioning), label and the label columns. */
  labelMessage(record: TxRecord, ids: IdEncoding = 'string'): Record<string, Scalar> {
    const d = this.declaration;
    const message: Record<string, Scalar> = {
      [d.id]: encodeId(record.id, ids),
      [d.customer]: encodeId(record.customer, ids),
      [d.label]: record.label ?? null,
    };
    for (const name of d.labelColumns) if (record.extras[name] !== undefined) message[name] = record.extras[name];
    return message;
  }

  /**
   * A message that failed its checks, made safe to keep (DLQ, rejects file): declared-dropped fields removed and the
   * pseudonymized roles replaced, as a valid record would be. Anything that is not a JSON object is kept as nothing.
   */
  scrub(value: unknown, admitted = false): Record<string, unknown> | null {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
    const out: Record<string, unknown> = {};
    const d = this.declaration;
    const roleOf: Record<string, IdRole> = { [d.id]: 'id', [d.customer]: 'customer', [d.terminal]: 'terminal' };
    for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
      if (this.dropped.has(key)) continue;
      const role = roleOf[key];
      if (role && this.pseudonymized[role] && !admitted && this.pseudonym && field !== null && field !== undefined) {
        out[key] = this.pseudonym(typeof field === 'string' ? field : JSON.stringify(field));
      } else if (this.known.has(key)) out[key] = field;
      else out[key] = '(undeclared field, not kept)';
    }
    return out;
  }

  private readId(raw: Record<string, unknown>, field: string, role: IdRole, options: ReadOptions, problems: Problems): string {
    const value = raw[field];
    if (value === undefined || value === null || value === '') {
      problems.add(field, 'is required');
      return '';
    }
    const id = idOf(value);
    if (id === undefined) {
      problems.add(field, ID_RULE);
      return '';
    }
    return this.pseudonymized[role] && !options.admitted && this.pseudonym ? this.pseudonym(id) : id;
  }

  private readColumn(raw: Record<string, unknown>, column: ColumnSpec, text: boolean, problems: Problems): Scalar {
    const value = raw[column.name];
    if (value === undefined || value === null || value === '') return null;
    if (column.kind === 'numeric') {
      const n = numberOf(value, text);
      const [lo, hi] = column.range ?? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
      if (n >= lo && n <= hi) return n;
      problems.add(column.name, `must be a number in [${lo}, ${hi}] (records.columns.${column.name})`);
      return null;
    }
    if (column.kind === 'categorical') {
      if (typeof value === 'string' && value.length <= 256) return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      problems.add(column.name, 'must be a string of at most 256 characters (a category)');
      return null;
    }
    return this.readCarried(raw, column.name, text, problems);
  }

  private readCarried(raw: Record<string, unknown>, name: string, text: boolean, problems: Problems): Scalar {
    const value = raw[name];
    if (value === undefined) return null;
    if (isScalar(value) && (typeof value !== 'string' || value.length <= 1024)) {
      return text && typeof value === 'string' && NUMERIC_TEXT.test(value) ? Number(value) : value;
    }
    problems.add(name, 'must be a string (at most 1024 characters), a number, a boolean or null');
    return null;
  }
}
