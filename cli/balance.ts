// `fraudops balance`: SMOTE over-sampling of a training split stored as CSV (see ml/smote.ts for the semantics).
import { readFileSync, writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { InvalidInputError } from '../ml/errors';
import { type LabelledMatrix, smote } from '../ml/smote';
import { formatCsv, parseCsv } from './csv';

export interface BalanceOptions {
  in: string;
  out: string;
  label: string;
  features: string[];
  k: number;
  ratio: number;
  seed: number;
  influence?: string;
  json?: boolean;
}

export interface BalanceSummary {
  input: string;
  output: string;
  features: string[];
  label: string;
  k: number;
  ratio: number;
  seed: number;
  minorityLabel: 0 | 1;
  before: { rows: number; minority: number; majority: number };
  after: { rows: number; minority: number; majority: number; synthetic: number; minorityToMajority: number };
  /** Training examples each original row influences (itself + synthetic rows it took part in). */
  influence: { max: number; meanOverMinority: number; rowsAboveOne: number };
}

function featureList(value: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => name === ''))
    throw new InvalidArgumentError(`"${value}" has an empty column name; give names separated by commas`);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated) throw new InvalidArgumentError(`column "${repeated}" is listed twice`);
  return names;
}

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError(`"${value}" is not a whole number >= 1`);
  return parsed;
}

function seedValue(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new InvalidArgumentError(`"${value}" is not a whole number >= 0`);
  return parsed;
}

function ratioValue(value: string): number {
  const parsed = Number(value);
  if (!(parsed > 0 && parsed <= 1)) throw new InvalidArgumentError(`"${value}" is not a number in (0, 1]`);
  return parsed;
}

/** Reads the chosen feature columns and the 0/1 label column of a CSV file into a matrix. */
export function readLabelledCsv(file: string, features: readonly string[], label: string): LabelledMatrix {
  const { header, records } = parseCsv(readFileSync(file, 'utf8'), file);
  const columnIndex = (name: string, flag: string): number => {
    const index = header.indexOf(name);
    if (index < 0) throw new InvalidInputError(`${flag} column "${name}" is not in ${file}; its columns are: ${header.join(', ')}`);
    return index;
  };
  if (features.includes(label)) throw new InvalidInputError(`--features lists the label column "${label}"; the label is not a feature`);
  const featureIndex = features.map((name) => columnIndex(name, '--features'));
  const labelIndex = columnIndex(label, '--label');
  const cols = features.length;
  const x = new Float64Array(records.length * cols);
  const y = new Uint8Array(records.length);
  // Line numbers assume one line per record (true unless quoted fields hold line breaks).
  records.forEach((record, i) => {
    featureIndex.forEach((column, j) => {
      const text = record[column].trim();
      const value = Number(text);
      if (text === '' || !Number.isFinite(value)) {
        throw new InvalidInputError(`${file} line ${i + 2}, ${features[j]} = "${record[column]}": features must be finite numbers`);
      }
      x[i * cols + j] = value;
    });
    const value = record[labelIndex].trim();
    if (value !== '' && (Number(value) === 0 || Number(value) === 1)) y[i] = Number(value);
    else throw new InvalidInputError(`${file} line ${i + 2}, ${label} = "${record[labelIndex]}": the label must be 0 or 1`);
  });
  return { x, y, rows: records.length, cols };
}

function countMinority(y: Uint8Array, label: number): number {
  let count = 0;
  for (const v of y) if (v === label) count++;
  return count;
}

/** Reads, balances and writes; returns the summary that the command prints. */
export function balanceCsv(options: BalanceOptions): BalanceSummary {
  const data = readLabelledCsv(options.in, options.features, options.label);
  const result = smote(data, { k: options.k, ratio: options.ratio, seed: options.seed, columnNames: options.features });
  const { cols, minorityLabel } = result;
  const rows = function* () {
    for (let i = 0; i < result.rows; i++) {
      yield [...result.x.subarray(i * cols, (i + 1) * cols), result.y[i]];
    }
  };
  writeFileSync(options.out, formatCsv([...options.features, options.label], rows()));
  if (options.influence) {
    const influenceRows = Array.from(result.influence, (count, i) => [i, data.y[i], count]);
    writeFileSync(options.influence, formatCsv(['row', options.label, 'influence'], influenceRows));
  }
  const minorityBefore = countMinority(data.y, minorityLabel);
  const minorityAfter = minorityBefore + result.synthetic;
  const majority = data.rows - minorityBefore;
  let max = 0;
  let minoritySum = 0;
  let rowsAboveOne = 0;
  result.influence.forEach((count, i) => {
    max = Math.max(max, count);
    if (data.y[i] === minorityLabel) minoritySum += count;
    if (count > 1) rowsAboveOne++;
  });
  return {
    input: options.in,
    output: options.out,
    features: options.features,
    label: options.label,
    k: options.k,
    ratio: options.ratio,
    seed: options.seed,
    minorityLabel,
    before: { rows: data.rows, minority: minorityBefore, majority },
    after: {
      rows: result.rows,
      minority: minorityAfter,
      majority,
      synthetic: result.synthetic,
      minorityToMajority: minorityAfter / majority,
    },
    influence: { max, meanOverMinority: minoritySum / minorityBefore, rowsAboveOne },
  };
}

function formatSummary(s: BalanceSummary): string {
  return [
    `balanced ${s.input} -> ${s.output} (SMOTE, k = ${s.k}, ratio = ${s.ratio}, seed = ${s.seed})`,
    `  before: ${s.before.rows} rows, ${s.before.minority} with ${s.label} = ${s.minorityLabel}, ${s.before.majority} others`,
    `  after:  ${s.after.rows} rows, ${s.after.minority} with ${s.label} = ${s.minorityLabel} (${s.after.synthetic} synthetic), ` +
      `minority/majority = ${s.after.minorityToMajority.toFixed(4)}`,
    `  influence per real record: max ${s.influence.max}, mean over minority ${s.influence.meanOverMinority.toFixed(2)}, ` +
      `${s.influence.rowsAboveOne} records in more than one training example`,
  ].join('\n');
}

export function registerBalanceCommands(program: Command): void {
  program
    .command('balance')
    .description(
      'over-sample the minority class of a training split with SMOTE (imbalanced-learn semantics: k nearest minority ' +
        'neighbours, x + U[0,1)·(neighbour − x), until minority/majority = ratio). Use it on the training split only. ' +
        'Writes the chosen features and the label, original rows first.',
    )
    .requiredOption('--in <file>', 'input CSV with a header row')
    .requiredOption('--out <file>', 'output CSV: the feature columns then the label column')
    .requiredOption('--features <names>', 'comma-separated feature column names', featureList)
    .option('--label <column>', 'the 0/1 label column', 'TX_FRAUD')
    .option('--k <n>', 'nearest minority neighbours to interpolate towards (needs at least k + 1 minority rows)', positiveInt, 5)
    .requiredOption('--ratio <r>', 'target minority/majority ratio after resampling, in (current ratio, 1]', ratioValue)
    .option('--seed <n>', 'random seed (same data + options + seed = same output)', seedValue, 1)
    .option('--influence <file>', 'also write per input row (0-based) how many training examples it influences')
    .option('--json', 'print the summary as JSON')
    .action((options: BalanceOptions) => {
      const summary = balanceCsv(options);
      console.log(options.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
    });
}
