// `fraudops validate`: checks a transactions CSV or a dataset snapshot against the declared record contract (config
// `records:`), computes statistics and drift against reference statistics, and writes JSON / HTML reports. Exit 0 on
// pass; a failed validation throws DataValidationError (exit 1); a bad flag exits 2.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { type Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createS3 } from '../clients/s3';
import { loadSnapshot } from '../clients/snapshot-store';
import { loadConfig } from '../config';
import { labelledRecords } from '../dataset/snapshot';
import { InvalidInputError } from '../ml/errors';
import {
  parseReferenceStatistics,
  type ReferenceStatistics,
  referenceStatistics,
  renderHtmlReport,
  throwIfFailed,
  type ValidationConfig,
  type ValidationOptions,
  type ValidationReport,
  validateRecords,
  validateRows,
} from '../ml/validation';
import { csvRecords, csvRows, type LabelRule, type RecordContract, recordContract } from '../records';
import { outputPath } from './files';

export interface ValidateOptions {
  in?: string;
  dataset?: string;
  prefix?: string;
  reference?: string;
  labels?: LabelRule;
  now?: number;
  outJson?: string;
  outHtml?: string;
  writeReference?: string;
  json?: boolean;
}

/** What a validation needs from the config: the thresholds (`validation:`) and the record contract (`records:`). */
export interface ValidateSettings {
  thresholds: ValidationConfig;
  contract: RecordContract;
}

const settingsFromConfig = (): ValidateSettings => {
  const config = loadConfig();
  return { thresholds: config.validation, contract: recordContract(config) };
};

function inputFile(value: string): string {
  if (!statSync(value, { throwIfNoEntry: false })?.isFile()) throw new InvalidArgumentError(`${value} is not a readable file.`);
  return value;
}

/** An ISO 8601 date (midnight UTC) or date-time with an explicit zone, as seconds since the epoch. */
function isoTime(value: string): number {
  const text = value.trim();
  const ok = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(text);
  const ms = ok ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new InvalidArgumentError(`"${value}" is not an ISO 8601 date (2018-10-01) or date-time with a zone (2018-10-01T12:00:00Z).`);
  }
  return ms / 1000;
}

function readReference(file: string): ReferenceStatistics {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InvalidInputError(`--reference ${file} is not JSON: ${(err as Error).message}`);
  }
  return parseReferenceStatistics(value, `--reference ${file}`);
}

type Common = Omit<ValidationOptions, 'labels' | 'fields'>;

/**
 * A CSV file read by the declared header (records/csv.ts): each row is a record or its problems with its line. Labels
 * are required when the header has the declared label column, unless --labels says otherwise.
 */
function validateCsv(file: string, labels: LabelRule | undefined, common: Common): ValidationReport {
  const text = readFileSync(file, 'utf8');
  const first = csvRows(text, file).next();
  const header = first.done ? [] : first.value.fields.map((name) => name.trim());
  const rule = labels ?? (header.includes(common.contract.declaration.label) ? 'required' : 'absent');
  return validateRows(csvRecords(text, file, common.contract, rule), { ...common, labels: rule, fields: header });
}

/** The labelled rows of a dataset snapshot in S3 (rows whose label has not arrived are not validated). */
async function validateSnapshot(sha256: string, prefix: string | undefined, common: Common): Promise<ValidationReport> {
  const config = loadConfig();
  const location = { bucket: config.stack.s3.bucket, prefix: prefix ?? config.ingest.datasetPrefix, sha256 };
  const { columns } = await loadSnapshot(createS3(config), location);
  return validateRecords(labelledRecords(columns), { ...common, labels: 'required' });
}

/** Reads, validates and writes the requested files; returns the report (the caller decides on the exit status). */
export async function validateInput(options: ValidateOptions, settings: ValidateSettings): Promise<ValidationReport> {
  if (Boolean(options.in) === Boolean(options.dataset))
    throw new InvalidInputError('give exactly one of --in <file> or --dataset <sha256>');
  const reference = options.reference ? readReference(options.reference) : undefined;
  const common: Common = { ...settings, now: options.now ?? Date.now() / 1000, reference };
  const report = options.in
    ? validateCsv(options.in, options.labels, common)
    : await validateSnapshot(options.dataset as string, options.prefix, common);
  if (options.outJson) writeFileSync(options.outJson, `${JSON.stringify(report, null, 2)}\n`);
  if (options.outHtml) writeFileSync(options.outHtml, renderHtmlReport(report));
  if (options.writeReference) writeFileSync(options.writeReference, `${JSON.stringify(referenceStatistics(report))}\n`);
  return report;
}

function formatSummary(report: ValidationReport, options: ValidateOptions): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const against = options.reference
    ? `drift against ${options.reference} (${n(report.reference?.rows ?? 0)} rows)`
    : 'no reference: drift not checked';
  const lines = [
    `validate ${options.in ?? `dataset ${options.dataset}`}: ${report.status.toUpperCase()}, ${n(report.rows.total)} rows, ${n(report.rows.valid)} pass the record contract; ` +
      `labels ${report.labels}; ${against}`,
  ];
  if (report.failures.length)
    lines.push(`failures (${report.failures.length}, worst first):`, ...report.failures.map((f, i) => `  ${i + 1}. ${f}`));
  if (report.warnings.length) lines.push(`warnings (${report.warnings.length}):`, ...report.warnings.map((w) => `  - ${w}`));
  const written = [
    options.outJson && `JSON report ${options.outJson}`,
    options.outHtml && `HTML report ${options.outHtml}`,
    options.writeReference && `reference statistics ${options.writeReference}`,
  ].filter(Boolean);
  if (written.length) lines.push(`wrote ${written.join(', ')}`);
  return lines.join('\n');
}

/** Commander reports bad flags with exit code 1; this command promises 2 (1 means "validation failed"). */
function badFlagExitsTwo(err: CommanderError): never {
  if (err.exitCode === 0) throw err;
  throw new CommanderError(2, err.code, err.message);
}

export function registerValidateCommands(program: Command, loadSettings: () => ValidateSettings = settingsFromConfig): void {
  program
    .command('validate')
    .description(
      'validate a transactions CSV or dataset snapshot: the record contract declared under records: in config.yaml (required ' +
        'fields, types, ranges, labels), duplicated transaction ids, future timestamps, statistics of the 15 model features ' +
        '(computed over the rows that pass the contract, in time order) ' +
        'and, with --reference, drift (PSI, Jensen–Shannon, Kolmogorov–Smirnov) against thresholds in config.yaml ' +
        '(validation.*). Exit 0: pass; 1: validation failed (the failures are printed); 2: a bad flag.',
    )
    .option(
      '--in <file>',
      'transactions CSV with a header row naming the declared columns (records:; default: the handbook columns)',
      inputFile,
    )
    .option('--dataset <sha256>', 'a dataset snapshot written by fraudops ingest (its labelled rows), read from S3')
    .option('--prefix <prefix>', 'S3 key prefix of snapshots, with --dataset (default: ingest.datasetPrefix)')
    .option(
      '--reference <file>',
      'reference statistics JSON to check drift against (written by --write-reference, e.g. on the training data)',
      inputFile,
    )
    .addOption(
      new Option(
        '--labels <rule>',
        'required: rows must carry the declared label (records.label); absent: rows must not (as on the transactions topic); ' +
          'optional: either. Default: required when the header has the label column, else absent',
      ).choices(['required', 'absent', 'optional']),
    )
    .option(
      '--now <time>',
      'the current time for the future-timestamp rule, ISO 8601 (2018-10-01 or 2018-10-01T12:00:00Z); default: the clock',
      isoTime,
    )
    .option('--out-json <file>', 'write the full report as JSON', outputPath)
    .option('--out-html <file>', 'write a self-contained HTML report (histograms, reference against current)', outputPath)
    .option('--write-reference <file>', "write this data's statistics as a reference file for later --reference runs", outputPath)
    .option('--json', 'print the report as JSON instead of a summary')
    .exitOverride(badFlagExitsTwo)
    .action(async (options: ValidateOptions) => {
      const report = await validateInput(options, loadSettings());
      console.log(options.json ? JSON.stringify(report, null, 2) : formatSummary(report, options));
      throwIfFailed(report, options.outHtml ?? options.outJson);
    });
}
