// The report builder: row rules, feature statistics, drift, and the pass/fail decision. Rows are read by the
// declared record contract (records/), so every rule names the declared field.
//
// Failures (status 'fail'):
//   - no records at all;
//   - the share of rows failing the contract is above maxBadRowFraction (then every broken rule is listed);
//   - any duplicated transaction id, or any event time later than now + maxFutureSeconds (among valid rows);
//   - a constant feature column whose reference varies; without a reference, a constant column among
//     MUST_VARY (the amount features: constant amounts mean a broken feed, whatever the batch size);
//   - a drifted feature (any of PSI, JS, KS above its threshold).
// Warnings (reported, not failing): rules broken by a share of rows within maxBadRowFraction; other constant
// columns without a reference (a small batch can legitimately be all-weekday, all-daytime, or have no terminal
// history yet); fields outside the declaration; rows not in time order; features missing from the reference;
// label-dependent features skipped because labels are not required.
import type { SnapshotColumns } from '../../dataset/snapshot';
import type { LabelRule, RecordContract, RecordDeclaration, TxRecord } from '../../records';
import { InvalidInputError } from '../errors';
import { computeColumnFeatures, DEFAULT_LABEL_DELAY_DAYS, FEATURE_COUNT, FEATURE_NAMES } from '../features';
import { columnDrift, type DriftScores, type DriftThresholds, exceeded } from './drift';
import { type PublicReference, publicBins, publicReferenceOfCounts, sortedBinCounts } from './public-reference';
import type { ReferenceStatistics } from './reference';
import type { FeatureReport, RowExample, ValidationConfig, ValidationReport } from './report';
import {
  type CheckedRecords,
  checkLabelledColumns,
  checkRows,
  findDuplicateIds,
  findFutureTimestamps,
  type ReadRow,
  type ValidRows,
} from './rules';
import { columnStatistics } from './stats';

export interface ValidationOptions {
  /** The record contract (config `records:`) that reads every row. */
  contract: RecordContract;
  /** The current time, seconds since the Unix epoch (UTC). */
  now: number;
  /** Statistics to check drift against (see referenceStatistics). */
  reference?: ReferenceStatistics;
  thresholds: ValidationConfig;
  /** 'required': rows carry the declared label (a labelled snapshot); 'absent': they must not; 'optional': either. */
  labels: LabelRule;
  /** The label delay of the terminal features (default 7 days, as in training). */
  labelDelayDays?: number;
  /** The input's field names (a CSV header), for the warning on undeclared fields; default: the first object's keys. */
  fields?: readonly string[];
}

export interface ReadOptions {
  /** Values are text (CSV cells): numeric strings count as numbers. */
  text?: boolean;
  /** Values already passed fraudops' boundary (its own messages, a snapshot): declared roles are pseudonyms already. */
  admitted?: boolean;
}

/** Features that read labels: with labels absent they are 0 by construction, so they are not checked. */
export const isLabelDependent = (name: string): boolean => name.startsWith('TERMINAL_ID_RISK_');

/** Constant columns that fail even without a reference. */
export const MUST_VARY: readonly string[] = FEATURE_NAMES.filter(
  (name) => name === 'TX_AMOUNT' || name.startsWith('CUSTOMER_ID_AVG_AMOUNT_'),
);

interface Finding {
  failure: boolean;
  /** How far over its limit (orders failures, worst first). */
  severity: number;
  text: string;
}

const fmt = (value: number): string => String(Number(value.toPrecision(3)));
const percent = (share: number): string => `${fmt(100 * share)} %`;
const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** `row 7 (id 7) amt = "x"`, or `line 9 …` for a row of a file; the id is left out when it is the value shown. */
function describeExample(e: RowExample, field: string, idField: string): string {
  const id = e.id === undefined || (field === idField && e.value !== undefined) ? '' : ` (id ${e.id})`;
  const value = e.value === undefined ? '' : ` ${field} = ${JSON.stringify(e.value)}`;
  return `${e.line ? `line ${e.line}` : `row ${e.row}`}${id}${value}`;
}

/** Valid-row positions in time order (ties keep input order), or undefined when already in order. */
function timeOrder(valid: ValidRows): Int32Array | undefined {
  const t = valid.timestamp;
  let ordered = true;
  for (let k = 1; k < valid.count && ordered; k++) ordered = t[k] >= t[k - 1];
  if (ordered) return undefined;
  return Int32Array.from({ length: valid.count }, (_, k) => k).sort((a, b) => t[a] - t[b] || a - b);
}

/** The 15 features of the valid rows, in time order (n × FEATURE_COUNT, row-major). */
function featureMatrix(valid: ValidRows, order: Int32Array | undefined, labelDelayDays: number): Float64Array {
  const { id, timestamp, customer, terminal, amount, fraud } = valid;
  return computeColumnFeatures(
    { transactionId: id, timestamp, customerId: customer, terminalId: terminal, amount, fraud },
    valid.count,
    labelDelayDays,
    order,
  );
}

/** Feature columns copied out of the matrix per pass over it (one column a pass read all of it 15 times). */
const COLUMN_GROUP = 5;

/** Columns `from` … `from + columns.length − 1` of a feature matrix (n × FEATURE_COUNT, row-major) copied into `columns`, in one pass. */
function copyColumns(matrix: Float64Array, from: number, columns: Float64Array[]): Float64Array[] {
  const rows = matrix.length / FEATURE_COUNT;
  for (let i = 0, at = from; i < rows; i++, at += FEATURE_COUNT) for (let c = 0; c < columns.length; c++) columns[c][i] = matrix[at + c];
  return columns;
}

/** Statistics, drift and verdict of each feature column of a feature matrix (n × FEATURE_COUNT, row-major). */
export function featureReports(
  matrix: Float64Array,
  options: {
    labels: LabelRule;
    reference?: ReferenceStatistics;
    drift: DriftThresholds;
    /** Given each column's values once sorted, before they are dropped (one sort serves other counts too). */
    sorted?: (feature: number, values: Float64Array) => void;
  },
): FeatureReport[] {
  // One group of columns at a time, each group in the storage of the one before: a column is done with once reported.
  const rows = matrix.length / FEATURE_COUNT;
  const storage = Array.from({ length: COLUMN_GROUP }, () => new Float64Array(rows));
  const scratch = new Float64Array(rows); // the sorts' own
  return FEATURE_NAMES.map((name, j) => {
    if (j % COLUMN_GROUP === 0) copyColumns(matrix, j, storage.slice(0, Math.min(COLUMN_GROUP, FEATURE_COUNT - j)));
    const column = storage[j % COLUMN_GROUP];
    const stats = columnStatistics(column, 0, scratch); // sorts `column`
    options.sorted?.(j, column);
    const checked = options.labels === 'required' || !isLabelDependent(name);
    const constant = stats.count >= 2 && stats.summary?.min === stats.summary?.max;
    const reference = options.reference?.features.find((f) => f.name === name);
    const drift = checked && reference && stats.count > 0 ? columnDrift(reference, column, options.drift) : undefined;
    const constantFails = checked && constant && (reference ? reference.min < reference.max : MUST_VARY.includes(name));
    const report: FeatureReport = { name, checked, constant, failed: constantFails || Boolean(drift?.beyondHardLimit), stats };
    if (drift) report.drift = drift;
    return report;
  });
}

function rowFindings(
  checked: ReturnType<typeof checkRows>,
  duplicates: ValidationReport['duplicates'],
  future: ValidationReport['future'],
  thresholds: ValidationConfig,
  declaration: RecordDeclaration,
): Finding[] {
  const idField = declaration.id;
  const timeField = declaration.time.column;
  const { total, bad } = checked;
  if (total === 0) return [{ failure: true, severity: Number.POSITIVE_INFINITY, text: 'dataset has no records' }];
  const rowSeverity = (rows: number) => rows / total / Math.max(thresholds.maxBadRowFraction, 1 / total);
  const findings: Finding[] = [];
  if (checked.valid.count === 0)
    findings.push({ failure: true, severity: Number.POSITIVE_INFINITY, text: `none of the ${total} rows passes the record contract` });
  const schemaFails = bad / total > thresholds.maxBadRowFraction;
  if (schemaFails) {
    findings.push({
      failure: true,
      severity: rowSeverity(bad),
      text: `${bad} of ${total} rows (${percent(bad / total)}) fail the record contract, above maxBadRowFraction ${percent(thresholds.maxBadRowFraction)}`,
    });
  }
  for (const rule of checked.rules) {
    const examples = rule.examples.slice(0, 2).map((e) => describeExample(e, rule.field, idField));
    findings.push({
      failure: schemaFails,
      severity: rowSeverity(rule.rows),
      text: `${rule.field} ${rule.rule}: ${count(rule.rows, 'row')}, e.g. ${examples.join('; ')}`,
    });
  }
  if (duplicates.rows > 0) {
    const [first] = duplicates.examples;
    findings.push({
      failure: true,
      severity: rowSeverity(duplicates.rows),
      text: `${idField} duplicated: ${count(duplicates.ids, 'id')} on ${duplicates.rows} rows, e.g. id ${first.id} at rows ${first.rows.join(', ')}`,
    });
  }
  if (future.rows > 0) {
    findings.push({
      failure: true,
      severity: rowSeverity(future.rows),
      text:
        `${timeField} in the future: ${count(future.rows, 'row')} after ${future.limit} (now + ${thresholds.maxFutureSeconds} s), ` +
        `latest ${future.latest}, e.g. ${describeExample(future.examples[0], timeField, idField)}`,
    });
  }
  return findings;
}

function featureFindings(
  features: FeatureReport[],
  reference: ReferenceStatistics | undefined,
  thresholds: DriftThresholds,
  labels: LabelRule,
): Finding[] {
  const findings: Finding[] = [];
  for (const feature of features) {
    if (!feature.checked || !feature.stats.summary) continue;
    const ref = reference?.features.find((f) => f.name === feature.name);
    if (reference && !ref)
      findings.push({ failure: false, severity: 0, text: `${feature.name} is not in the reference statistics: drift not checked` });
    const over = feature.drift ? exceeded(feature.drift, thresholds) : [];
    const drift = over.map((s) => `${s.name} ${fmt(s.value)} > ${s.limit}`).join(', ');
    const severity = over.length ? over[0].value / over[0].limit : 1;
    if (feature.constant) {
      const value = fmt(feature.stats.summary.min);
      const varies = ref ? ref.min < ref.max : MUST_VARY.includes(feature.name);
      const why = ref
        ? varies
          ? 'but varies in the reference'
          : 'as in the reference'
        : varies
          ? 'but amounts must vary'
          : 'in this batch';
      findings.push({
        failure: feature.failed,
        severity,
        text: `${feature.name} is constant (every row = ${value}) ${why}${drift ? `; drift ${drift}` : ''}`,
      });
    } else if (feature.failed) {
      const hard = thresholds.hardLimit ? exceeded(feature.drift as DriftScores, thresholds.hardLimit) : [];
      const beyond = hard.map((s) => `${s.name} ${fmt(s.value)} > ${s.limit}`).join(', ');
      findings.push({
        failure: true,
        severity,
        text: `${feature.name} drift ${drift}${beyond ? `, beyond the hard limit (${beyond})` : ''}`,
      });
    } else if (feature.drift?.drifted) {
      findings.push({ failure: false, severity, text: `${feature.name} drift ${drift} (recorded; below the hard limit)` });
    }
  }
  const skipped = features.filter((f) => !f.checked).map((f) => f.name);
  if (skipped.length)
    findings.push({ failure: false, severity: 0, text: `labels ${labels}: ${skipped.join(', ')} read labels and are not checked` });
  return findings;
}

/** The field names of the first object, for the warning on undeclared fields. */
function firstFields(values: Iterable<unknown>): string[] {
  for (const value of values) if (value !== null && typeof value === 'object' && !Array.isArray(value)) return Object.keys(value);
  return [];
}

function* readAll(values: Iterable<unknown>, contract: RecordContract, labels: LabelRule, options: ReadOptions): Generator<ReadRow> {
  for (const value of values) {
    const read = contract.readTransaction(value, { labels, ...options });
    yield read.value ? { record: read.value } : { problems: read.problems, values: value };
  }
}

/** Validates values (messages, request items, CSV rows as text with `text`) by reading each with the contract. */
export function validateDataset(values: readonly unknown[], options: ValidationOptions & ReadOptions): ValidationReport {
  const { contract, labels, text, admitted } = options;
  return validateRows(readAll(values, contract, labels, { text, admitted }), { ...options, fields: options.fields ?? firstFields(values) });
}

/**
 * Validates records that already passed the boundary (a snapshot's rows): each is read again, as the messages it came
 * in (transaction and label), by the contract as it stands, so ranges or labels declared since are checked too.
 */
export function validateRecords(records: Iterable<TxRecord>, options: ValidationOptions): ValidationReport {
  const { contract } = options;
  function* messages() {
    for (const record of records) {
      yield record.label === undefined
        ? contract.transactionMessage(record)
        : { ...contract.transactionMessage(record), ...contract.labelMessage(record) };
    }
  }
  return validateRows(readAll(messages(), contract, options.labels, { admitted: true }), { ...options, fields: options.fields ?? [] });
}

/**
 * Validates a snapshot's labelled rows (what the pipeline's validation step reads) as validateRecords validates them as
 * records, straight from the columns. Also returns the features it computed: the valid rows' 15 features in time order
 * (rows × FEATURE_COUNT, row-major); and with `referenceSplit` (what the rows are), their public reference
 * (public-reference.ts, as publicReferenceStatistics of those features) counted off the columns validation sorts anyway.
 */
export function validateLabelledColumns(
  columns: SnapshotColumns,
  options: Omit<ValidationOptions, 'labels'> & { referenceSplit?: string },
): { report: ValidationReport; features: Float64Array; publicReference?: PublicReference } {
  const checked = checkLabelledColumns(columns, options.contract);
  const rows = checked.valid.count;
  const split = options.referenceSplit;
  const bins = split !== undefined && rows > 0 ? publicBins(options.contract.declaration) : undefined;
  const counts: number[][] = [];
  const sorted = bins && ((j: number, values: Float64Array) => counts.push(sortedBinCounts(values, bins[j])));
  const built = buildReport(checked, { ...options, labels: 'required', fields: options.fields ?? [] }, sorted);
  return bins && split !== undefined ? { ...built, publicReference: publicReferenceOfCounts(bins, counts, rows, split) } : built;
}

/** Validates rows already read by the contract (e.g. records/csv.ts `csvRecords`) and builds the report. */
export function validateRows(rows: Iterable<ReadRow>, options: ValidationOptions): ValidationReport {
  return buildReport(checkRows(rows, options.contract.declaration), options).report;
}

function buildReport(
  checked: CheckedRecords,
  options: ValidationOptions,
  sorted?: (feature: number, values: Float64Array) => void,
): { report: ValidationReport; features: Float64Array } {
  const { now, thresholds, labels, reference, contract } = options;
  const declaration = contract.declaration;
  if (!Number.isFinite(now)) throw new InvalidInputError(`now must be a finite number of seconds since the epoch, got ${now}`);
  const { valid } = checked;
  const duplicates = findDuplicateIds(valid);
  const future = findFutureTimestamps(valid, now + thresholds.maxFutureSeconds);
  const order = timeOrder(valid);
  const matrix = featureMatrix(valid, order, options.labelDelayDays ?? DEFAULT_LABEL_DELAY_DAYS);
  const features = featureReports(matrix, { labels, reference, drift: thresholds.drift, sorted });

  const findings = [
    ...rowFindings(checked, duplicates, future, thresholds, declaration),
    ...featureFindings(features, reference, thresholds.drift, labels),
  ];
  const declared = new Set([...contract.fields, ...declaration.drop]);
  const unknown = (options.fields ?? []).filter((name) => !declared.has(name));
  if (unknown.length) {
    findings.push({ failure: false, severity: 0, text: `fields outside the records: declaration are ignored: ${unknown.join(', ')}` });
  }
  if (order) {
    findings.push({
      failure: false,
      severity: 0,
      text: `rows are not in ${declaration.time.column} order: features were computed after sorting them`,
    });
  }
  const failures = findings.filter((f) => f.failure).sort((a, b) => b.severity - a.severity);
  const report: ValidationReport = {
    kind: 'fraudops.validation.report',
    version: 1,
    status: failures.length ? 'fail' : 'pass',
    failures: failures.map((f) => f.text),
    warnings: findings.filter((f) => !f.failure).map((f) => f.text),
    now: new Date(now * 1000).toISOString(),
    labels,
    fields: { id: declaration.id, time: declaration.time.column, amount: declaration.amount },
    thresholds,
    rows: {
      total: checked.total,
      valid: valid.count,
      bad: checked.bad,
      badFraction: checked.total ? checked.bad / checked.total : 0,
      timeOrdered: !order,
    },
    rules: checked.rules,
    duplicates,
    future,
    columns: { [declaration.amount]: columnStatistics(checked.amount.values, checked.amount.missing) },
    features,
    ...(reference ? { reference: { rows: reference.rows, labels: reference.labels } } : {}),
  };
  return { report, features: matrix };
}
