// Row-level rules: the record schema (simulator/schema.ts), duplicated TRANSACTION_IDs and future timestamps.
import { checkTransaction, type LabelRule, parseTxDatetime, TRANSACTION_COLUMNS } from '../../simulator/schema';
import type { DuplicateIds, FutureTimestamps, RowExample, RuleViolation } from './report';

const MAX_EXAMPLES = 5;
const MAX_TEXT = 40;

/** The schema-valid rows, in input order, as columns. */
export interface ValidRows {
  count: number;
  /** Position of each valid row in the input. */
  row: Int32Array;
  id: Float64Array;
  /** TX_DATETIME in seconds since the Unix epoch. */
  timestamp: Float64Array;
  customer: Float64Array;
  terminal: Float64Array;
  amount: Float64Array;
  /** TX_FRAUD, or 0 when labels are absent. */
  fraud: Uint8Array;
}

export interface CheckedRecords {
  total: number;
  /** Rows failing the schema. */
  bad: number;
  /** Most-broken rule first. */
  rules: RuleViolation[];
  valid: ValidRows;
  /** Raw TX_AMOUNT of every record: the finite numbers, and how many were absent or not a finite number. */
  amount: { values: Float64Array; missing: number };
  /** Fields of the first record that the schema does not know (they are ignored). */
  unknownFields: string[];
}

/** A JSON-friendly, short rendering of an offending value. */
function exampleValue(value: unknown): RowExample['value'] {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

function fieldOf(record: unknown, field: string): unknown {
  return record !== null && typeof record === 'object' ? (record as Record<string, unknown>)[field] : undefined;
}

function example(records: readonly unknown[], row: number, field?: string): RowExample {
  const out: RowExample = { row };
  const id = fieldOf(records[row], 'TRANSACTION_ID');
  if (typeof id === 'number' || typeof id === 'string') out.id = exampleValue(id) as number | string;
  if (field !== undefined) {
    const value = fieldOf(records[row], field);
    if (value !== undefined) out.value = exampleValue(value);
  }
  return out;
}

/** Checks every record against the schema and gathers the valid rows as columns. */
export function checkRecords(records: readonly unknown[], labels: LabelRule): CheckedRecords {
  const total = records.length;
  const valid: ValidRows = {
    count: 0,
    row: new Int32Array(total),
    id: new Float64Array(total),
    timestamp: new Float64Array(total),
    customer: new Float64Array(total),
    terminal: new Float64Array(total),
    amount: new Float64Array(total),
    fraud: new Uint8Array(total),
  };
  const amounts = new Float64Array(total);
  let amountCount = 0;
  const violations = new Map<string, RuleViolation>();
  let bad = 0;
  for (let row = 0; row < total; row++) {
    const record = records[row];
    const amount = fieldOf(record, 'TX_AMOUNT');
    if (typeof amount === 'number' && Number.isFinite(amount)) amounts[amountCount++] = amount;
    const checked = checkTransaction(record, labels);
    if (checked.record) {
      const k = valid.count++;
      const tx = checked.record;
      valid.row[k] = row;
      valid.id[k] = tx.TRANSACTION_ID;
      valid.timestamp[k] = parseTxDatetime(tx.TX_DATETIME);
      valid.customer[k] = tx.CUSTOMER_ID;
      valid.terminal[k] = tx.TERMINAL_ID;
      valid.amount[k] = tx.TX_AMOUNT;
      valid.fraud[k] = tx.TX_FRAUD ?? 0;
      continue;
    }
    bad++;
    for (const { field, rule } of checked.problems) {
      const key = `${field}\u0000${rule}`;
      let violation = violations.get(key);
      if (!violation) {
        violation = { field, rule, rows: 0, examples: [] };
        violations.set(key, violation);
      }
      violation.rows++;
      if (violation.examples.length < MAX_EXAMPLES) violation.examples.push(example(records, row, field));
    }
  }
  const first = records.find((r) => r !== null && typeof r === 'object' && !Array.isArray(r));
  const known = new Set<string>(TRANSACTION_COLUMNS);
  const { count } = valid;
  return {
    total,
    bad,
    rules: [...violations.values()].sort((a, b) => b.rows - a.rows),
    valid: {
      count,
      row: valid.row.subarray(0, count),
      id: valid.id.subarray(0, count),
      timestamp: valid.timestamp.subarray(0, count),
      customer: valid.customer.subarray(0, count),
      terminal: valid.terminal.subarray(0, count),
      amount: valid.amount.subarray(0, count),
      fraud: valid.fraud.subarray(0, count),
    },
    amount: { values: amounts.subarray(0, amountCount), missing: total - amountCount },
    unknownFields: first ? Object.keys(first).filter((key) => !known.has(key)) : [],
  };
}

/** TRANSACTION_IDs carried by more than one valid row (found by sorting a copy of the ids: no per-row allocation). */
export function findDuplicateIds(valid: ValidRows): DuplicateIds {
  const sorted = valid.id.slice().sort();
  let ids = 0;
  let rows = 0;
  const repeated: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] !== sorted[i - 1]) continue;
    const first = i === 1 || sorted[i - 2] !== sorted[i];
    if (first) {
      ids++;
      rows += 2;
      if (repeated.length < MAX_EXAMPLES) repeated.push(sorted[i]);
    } else rows++;
  }
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

/** Valid rows whose TX_DATETIME is later than `limit` (seconds since the Unix epoch). */
export function findFutureTimestamps(records: readonly unknown[], valid: ValidRows, limit: number): FutureTimestamps {
  let rows = 0;
  let latest = -1;
  const examples: RowExample[] = [];
  for (let k = 0; k < valid.count; k++) {
    if (!(valid.timestamp[k] > limit)) continue;
    rows++;
    if (latest < 0 || valid.timestamp[k] > valid.timestamp[latest]) latest = k;
    if (examples.length < MAX_EXAMPLES) examples.push(example(records, valid.row[k], 'TX_DATETIME'));
  }
  const result: FutureTimestamps = { rows, limit: new Date(limit * 1000).toISOString(), examples };
  if (latest >= 0) result.latest = String(fieldOf(records[valid.row[latest]], 'TX_DATETIME'));
  return result;
}
