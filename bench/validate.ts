// Benchmark: validation of ~1 M simulated rows by the configured record contract (default: the handbook's), (1) as
// objects (messages) with the phases timed separately and again against reference statistics (drift on), (2) through
// the CLI's CSV path (records/csv.ts reading the declared header; file reading excluded). Prints one JSON object.
// With --columns: only what the pipeline's validation step does in process (activities/validate.ts, S3 and MLflow
// left out): a snapshot's columns (the last label-delay days unlabelled) validated against the public reference a
// champion carries, with the public reference of the validated rows, the report as JSON and HTML; --repeat N runs it N times.
// Run: node --import tsx bench/validate.ts [--columns [--repeat N]] [--days N (default 105)]
import { loadConfig } from '../config';
import { columnsFromRecords, type SnapshotColumns } from '../dataset/snapshot';
import { computeColumnFeatures, DAY_SECONDS } from '../ml/features';
import {
  type ReferenceStatistics,
  referenceStatistics,
  renderHtmlReport,
  type ValidationConfig,
  validateDataset,
  validateLabelledColumns,
  validateRows,
} from '../ml/validation';
import { checkRows, type ReadRow } from '../ml/validation/rules';
import { csvRecords, type RecordContract, recordContract } from '../records';
import { CSV_HEADER, csvLines, HANDBOOK_DEFAULTS, type SimulatedDataset, simulate } from '../simulator';

const DAYS = 105; // ≈ 1.0 M transactions with the handbook's 5000 customers
const NOW = Date.parse('2019-01-01T00:00:00Z') / 1000;

const secondsSince = (from: number): number => (performance.now() - from) / 1000;
/** A whole-number option (`fallback` when absent); anything else stops the bench naming the option. */
function wholeArgument(name: string, fallback: number): number {
  if (!process.argv.includes(name)) return fallback;
  const text = process.argv[process.argv.indexOf(name) + 1];
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} ${text ?? '(missing)'}: must be a whole number >= 1`);
  return value;
}

function snapshotPath(dataset: SimulatedDataset, thresholds: ValidationConfig, contract: RecordContract) {
  const records = Array.from(dataset);
  let started = performance.now();
  const read: ReadRow[] = records.map((value) => {
    const r = contract.readTransaction(value, { labels: 'required' });
    return r.value ? { record: r.value } : { problems: r.problems, values: value };
  });
  const { valid } = checkRows(read, contract.declaration);
  const schemaSeconds = secondsSince(started);
  started = performance.now();
  computeColumnFeatures(
    {
      transactionId: valid.id,
      timestamp: valid.timestamp,
      customerId: valid.customer,
      terminalId: valid.terminal,
      amount: valid.amount,
      fraud: valid.fraud,
    },
    valid.count,
  );
  const featureSeconds = secondsSince(started);
  process.stderr.write(`phases: contract ${schemaSeconds.toFixed(2)} s, features ${featureSeconds.toFixed(2)} s\n`);

  const options = { contract, now: NOW, thresholds, labels: 'required' as const };
  started = performance.now();
  const report = validateDataset(records, options);
  const seconds = secondsSince(started);
  const reference = referenceStatistics(report);
  started = performance.now();
  const compared = validateDataset(records, { ...options, reference });
  const withReferenceSeconds = secondsSince(started);
  started = performance.now();
  const html = renderHtmlReport(compared);
  return {
    rows: records.length,
    seconds,
    rows_per_second: records.length / seconds,
    with_reference_seconds: withReferenceSeconds,
    with_reference_rows_per_second: records.length / withReferenceSeconds,
    schema_check_seconds: schemaSeconds,
    compute_features_seconds: featureSeconds,
    html_seconds: secondsSince(started),
    html_bytes: Buffer.byteLength(html),
    report_json_bytes: Buffer.byteLength(JSON.stringify(compared)),
    reference_json_bytes: Buffer.byteLength(JSON.stringify(reference)),
    status: report.status,
    status_with_reference: compared.status,
  };
}

function csvPath(dataset: SimulatedDataset, thresholds: ValidationConfig, contract: RecordContract) {
  const text = CSV_HEADER + csvLines(dataset);
  const started = performance.now();
  const rows = csvRecords(text, 'bench.csv', contract, 'required');
  const report = validateRows(rows, { contract, now: NOW, thresholds, labels: 'required', fields: CSV_HEADER.trim().split(',') });
  const seconds = secondsSince(started);
  return {
    csv_bytes: Buffer.byteLength(text),
    seconds,
    rows_per_second: report.rows.total / seconds,
    status: report.status,
  };
}

/** A snapshot's columns as ingest hands them on: time order, labels not yet arrived for the last label-delay days. */
function snapshotColumns(dataset: SimulatedDataset, labelDelayDays: number, contract: RecordContract): SnapshotColumns {
  const columns = columnsFromRecords(
    Array.from({ length: dataset.size }, (_, i) => dataset.record(i)),
    contract.declaration,
  );
  const labelledUntil = columns.timestamp[columns.rows - 1] - labelDelayDays * DAY_SECONDS;
  for (let i = 0; i < columns.rows; i++) if (columns.timestamp[i] > labelledUntil) columns.fraud[i] = -1;
  return columns;
}

/** The validation step's in-process work on one snapshot (activities/validate.ts), timed by phase. */
function validationStep(columns: SnapshotColumns, reference: ReferenceStatistics | undefined, config: ReturnType<typeof loadConfig>) {
  let started = performance.now();
  const { report, publicReference } = validateLabelledColumns(columns, {
    contract: recordContract(config),
    now: NOW,
    thresholds: config.validation,
    reference,
    labelDelayDays: config.producer.labelDelayDays,
    referenceSplit: 'labelled rows of the bench snapshot',
  });
  const validateSeconds = secondsSince(started);
  started = performance.now();
  const json = JSON.stringify(report, null, 2);
  const html = renderHtmlReport(report);
  const referenceJson = JSON.stringify(publicReference);
  const reportSeconds = secondsSince(started);
  return {
    timing: {
      seconds: validateSeconds + reportSeconds,
      validate_seconds: validateSeconds,
      report_seconds: reportSeconds,
      status: report.status,
      warnings: report.warnings.length,
      failures: report.failures.length,
      json_bytes: Buffer.byteLength(json),
      html_bytes: Buffer.byteLength(html),
      reference_bytes: Buffer.byteLength(referenceJson),
    },
    publicReference,
  };
}

function columnsPath(dataset: SimulatedDataset, config: ReturnType<typeof loadConfig>, repeat: number) {
  const columns = snapshotColumns(dataset, config.producer.labelDelayDays, recordContract(config));
  // The first run has no champion (as a first deployment); the others compare with the reference it stored, as the
  // pipeline's later runs compare with their champion's.
  const first = validationStep(columns, undefined, config);
  const runs = [];
  for (let r = 0; r < repeat; r++) runs.push(validationStep(columns, first.publicReference, config).timing);
  return {
    rows: columns.rows,
    labelled: columns.fraud.reduce((n, f) => n + (f >= 0 ? 1 : 0), 0),
    no_reference: first.timing,
    with_reference: runs,
  };
}

function main(): void {
  const config = loadConfig();
  const contract = recordContract(config);
  const started = performance.now();
  const dataset = simulate({ ...HANDBOOK_DEFAULTS, days: wholeArgument('--days', DAYS) });
  process.stderr.write(`simulated ${dataset.size} rows in ${secondsSince(started).toFixed(1)} s\n`);
  if (process.argv.includes('--columns')) {
    const result = columnsPath(dataset, config, wholeArgument('--repeat', 3));
    console.log(
      JSON.stringify({
        benchmark: 'validate --columns',
        ...result,
        max_rss_mb: process.resourceUsage().maxRSS / 1024,
        node: process.version,
      }),
    );
    return;
  }
  const snapshot = snapshotPath(dataset, config.validation, contract);
  const csv = csvPath(dataset, config.validation, contract);
  console.log(
    JSON.stringify({
      benchmark: 'validate',
      ...snapshot,
      csv,
      max_rss_mb: process.resourceUsage().maxRSS / 1024,
      node: process.version,
    }),
  );
}

main();
