// Benchmark: validation of ~1 M simulated rows, (1) as typed records (a snapshot) with the phases timed
// separately and again against reference statistics (drift on), (2) through the CLI's CSV path (parseCsv and
// cell conversion, file reading excluded). Prints one JSON object.
// Run: node --import tsx bench/validate.ts
import { parseCsv } from '../cli/csv';
import { csvRecords } from '../cli/validate';
import { loadConfig } from '../config';
import { computeColumnFeatures } from '../ml/features';
import { referenceStatistics, renderHtmlReport, type ValidationConfig, validateDataset } from '../ml/validation';
import { checkRecords } from '../ml/validation/rules';
import { CSV_HEADER, csvLines, HANDBOOK_DEFAULTS, type SimulatedDataset, simulate } from '../simulator';

const DAYS = 105; // ≈ 1.0 M transactions with the handbook's 5000 customers
const NOW = Date.parse('2019-01-01T00:00:00Z') / 1000;

const secondsSince = (from: number): number => (performance.now() - from) / 1000;

function snapshotPath(dataset: SimulatedDataset, thresholds: ValidationConfig) {
  const records = Array.from(dataset);
  let started = performance.now();
  const checked = checkRecords(records, 'required');
  const schemaSeconds = secondsSince(started);
  const { valid } = checked;
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
  process.stderr.write(`phases: schema ${schemaSeconds.toFixed(2)} s, features ${featureSeconds.toFixed(2)} s\n`);

  started = performance.now();
  const report = validateDataset(records, { now: NOW, thresholds, labels: 'required' });
  const seconds = secondsSince(started);
  const reference = referenceStatistics(report);
  started = performance.now();
  const compared = validateDataset(records, { now: NOW, thresholds, labels: 'required', reference });
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

function csvPath(dataset: SimulatedDataset, thresholds: ValidationConfig) {
  const text = CSV_HEADER + csvLines(dataset);
  let started = performance.now();
  const table = parseCsv(text, 'bench.csv');
  const parseSeconds = secondsSince(started);
  started = performance.now();
  const records = csvRecords(table);
  const convertSeconds = secondsSince(started);
  started = performance.now();
  const report = validateDataset(records, { now: NOW, thresholds, labels: 'required' });
  const validateSeconds = secondsSince(started);
  const seconds = parseSeconds + convertSeconds + validateSeconds;
  return {
    csv_bytes: Buffer.byteLength(text),
    parse_csv_seconds: parseSeconds,
    csv_records_seconds: convertSeconds,
    validate_seconds: validateSeconds,
    seconds,
    rows_per_second: records.length / seconds,
    status: report.status,
  };
}

function main(): void {
  const thresholds = loadConfig().validation;
  const started = performance.now();
  const dataset = simulate({ ...HANDBOOK_DEFAULTS, days: DAYS });
  process.stderr.write(`simulated ${dataset.size} rows in ${secondsSince(started).toFixed(1)} s\n`);
  const snapshot = snapshotPath(dataset, thresholds);
  const csv = csvPath(dataset, thresholds);
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
