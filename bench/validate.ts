// Benchmark: validation of ~1 M simulated rows by the configured record contract (default: the handbook's), (1) as
// objects (messages) with the phases timed separately and again against reference statistics (drift on), (2) through
// the CLI's CSV path (records/csv.ts reading the declared header; file reading excluded). Prints one JSON object.
// Run: node --import tsx bench/validate.ts
import { loadConfig } from '../config';
import { computeColumnFeatures } from '../ml/features';
import { referenceStatistics, renderHtmlReport, type ValidationConfig, validateDataset, validateRows } from '../ml/validation';
import { checkRows, type ReadRow } from '../ml/validation/rules';
import { csvRecords, type RecordContract, recordContract } from '../records';
import { CSV_HEADER, csvLines, HANDBOOK_DEFAULTS, type SimulatedDataset, simulate } from '../simulator';

const DAYS = 105; // ≈ 1.0 M transactions with the handbook's 5000 customers
const NOW = Date.parse('2019-01-01T00:00:00Z') / 1000;

const secondsSince = (from: number): number => (performance.now() - from) / 1000;

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

function main(): void {
  const config = loadConfig();
  const contract = recordContract(config);
  const started = performance.now();
  const dataset = simulate({ ...HANDBOOK_DEFAULTS, days: DAYS });
  process.stderr.write(`simulated ${dataset.size} rows in ${secondsSince(started).toFixed(1)} s\n`);
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
