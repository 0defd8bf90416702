// The model-quality grid of the README: every model family × {non-private, ε = 8, 3, 1, 0.5} × privacy unit
// {transaction, card} (non-private has none) × training seeds, on the handbook protocol's default simulated data
// (simulated and split once), δ and the accountant from config.yaml. Per cell: mean ± sd over the seeds of test AUC,
// AP and CP@100, and the percentile bootstrap interval of the seed-mean AP and CP@100 over resampled test cards
// (ml/bootstrap.ts: every resample applied to all the seeds' scores); per run its own intervals.
//   A subset:  npx tsx bench/quality.ts --families logistic --epsilons non-private,1 --seeds 0
//   The grid:  npx tsx bench/quality.ts --params bench/quality-params.json --out quality.json   (~30 min on 2 busy cores)
//   (bench/quality-params.json: written by --params-from-tuning from the searches named in its "_source"; its
//   "_selection" says which per-ε layers were kept, by re-scoring on public validation days, and why)
//   The table: npx tsx bench/quality.ts --markdown --from quality.json
// Hyper-parameters: config.yaml's pipeline.training, overridden by --params <file.json>, an object whose keys are
// merged in this order for a cell: "default", "<family>", "<family>:non-private" or "<family>:dp", "<family>:dp:<unit>",
// "<family>:eps=<ε>", "<family>:eps=<ε>:<unit>"; each value holds ExperimentOptions fields (e.g. {"learningRate": 0.05});
// keys that start with "_" are notes (e.g. "_source": where the params came from) and are not read.
// From tuning searches (`fraudops tune`, their MLflow parent run ids): --params-from-tuning <id,...> takes each search's
// best config as its family's params, "<family>:dp" or "<family>:non-private" by the search's privacy; a family with
// a DP search only uses it for its non-private cells too (dp off). Where a family has DP searches at several ε for
// one unit (tuning.epsilon), those not at privacy.targetEpsilon are filed as "<family>:eps=<ε>:<unit>".
// --write-params <file> writes those params (with the run ids in "_source") and exits, so the grid can run later
// from the file.
// Prints one JSON object (or, with --markdown, the table); --out rewrites the JSON after every cell.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { BestConfig } from '../activities/tuning';
import { MlflowClient } from '../clients/mlflow';
import { type Config, loadConfig } from '../config';
import { bootstrapMeanIntervals, DEFAULT_BOOTSTRAP, type Interval, type MetricIntervals } from '../ml/bootstrap';
import type { PrivacyUnit } from '../ml/dpsgd/types';
import {
  type ExperimentOptions,
  MODEL_FAMILIES,
  type ModelFamily,
  PRIVACY_UNITS,
  runExperimentOnSplits,
  type SplitFeatures,
} from '../ml/experiment';
import { HANDBOOK_PROTOCOL } from '../ml/protocol';
import { selectBackend } from '../ml/tensorflow';
import { candidateOptions } from '../ml/tuning/space';
import { HANDBOOK_DEFAULTS } from '../simulator';
import { pipelineSettings } from '../temporal/pipeline';
import { readTunedConfig } from '../temporal/tuned-config';
import { simulatedSplits } from './handbook-data';

const EPSILONS = [null, 8, 3, 1, 0.5] as const;
const SEEDS = [0, 1, 2, 3, 4];

/** One cell of the grid: a family at a privacy setting (ε null: non-private, no unit). */
interface CellKey {
  family: ModelFamily;
  epsilon: number | null;
  unit: PrivacyUnit | null;
}

interface Run {
  seed: number;
  auc_roc: number;
  average_precision: number;
  card_precision_at_100: number;
  intervals: MetricIntervals;
  epsilon_spent: number | null;
  train_seconds: number;
}

interface Summary {
  mean: number;
  sd: number | null;
}

interface Cell extends CellKey {
  seeds: number[];
  options?: Omit<ExperimentOptions, 'protocol' | 'seed'>;
  auc_roc?: Summary;
  average_precision?: Summary & { interval: Interval };
  card_precision_at_100?: Summary & { interval: Interval };
  runs: Run[];
  error?: string;
  seconds: number;
}

type Params = Record<string, Partial<ExperimentOptions>>;

/** Fields a params file may set; family, dp, ε, unit and seed belong to the grid. */
const TUNABLE = new Set<string>(['positiveWeight', 'publicFraudRate', 'emaDecay', 'ebm']);

/** A params file's note: its key starts with "_" and it holds no options. */
const isNote = (key: string) => key.startsWith('_');

/** Checks a params object (from a file or from tuning searches): `origin` names it in the errors. */
function checkParams(params: unknown, base: Omit<ExperimentOptions, 'protocol'>, origin: string): Params {
  if (!params || typeof params !== 'object' || Array.isArray(params)) throw new Error(`${origin}: must be a JSON object of option sets`);
  const grid = new Set(['family', 'dp', 'targetEpsilon', 'privacyUnit', 'seed', 'protocol']);
  for (const [key, set] of Object.entries(params)) {
    if (isNote(key)) continue;
    if (!set || typeof set !== 'object') throw new Error(`${origin}: "${key}" must be an object of ExperimentOptions fields`);
    for (const field of Object.keys(set)) {
      if (grid.has(field)) throw new Error(`${origin}: "${key}.${field}" is set by the grid, not by hyper-parameters`);
      if (!(field in base) && !TUNABLE.has(field)) throw new Error(`${origin}: "${key}.${field}" is not an ExperimentOptions field`);
    }
  }
  return params as Params;
}

/**
 * The params of finished tuning searches: each search's best config under its family, "<family>:dp" or
 * "<family>:non-private" by whether its trials trained with DP, and "<family>:dp:card" for a DP search at the card
 * unit (run with privacy.unit card); a family without a non-private search takes its DP search's config for every
 * cell ("<family>"), the non-private cells training it with DP off. Per-ε searches (tuning.epsilon): where a family
 * has DP searches at several ε for one unit, each is filed under "<family>:eps=<ε>:<unit>" (the unit always named, so
 * a transaction search never overrides the card layer), except the one at privacy.targetEpsilon, which stays the
 * "<family>:dp" (or ":dp:card") that the ε without a search of their own take.
 */
async function paramsFromTuning(config: Config, runIds: string[]): Promise<Params> {
  const mlflow = MlflowClient.fromConfig(config);
  const found: Array<{
    runId: string;
    family: ModelFamily;
    dp: boolean;
    unit: string;
    epsilon: number | null;
    options: Partial<ExperimentOptions>;
    best: BestConfig;
  }> = [];
  for (const runId of runIds) {
    const best = await readTunedConfig(mlflow, config, runId);
    const { family, ...options } = candidateOptions({}, best.hyperParameters) as Partial<ExperimentOptions>;
    if (!family) throw new Error(`--params-from-tuning ${runId}: its search did not fix a family (run it with --family)`);
    const params = (await mlflow.getRun(best.tuningRunId)).data.params ?? [];
    const param = (key: string) => params.find((p) => p.key === key)?.value;
    // Searches from before the parent run named its unit trained at the transaction unit.
    const unit = param('privacy_unit') ?? 'transaction';
    // The ε the search targeted (the grid's ε), not the one its best trial spent (a hair below it).
    const epsilon = best.epsilonPerTrial === null ? null : Number(param('epsilon_per_trial') ?? best.epsilonPerTrial.toPrecision(3));
    found.push({ runId: best.tuningRunId, family, dp: epsilon !== null, unit, epsilon, options, best });
  }
  const layers: Params = {};
  const filed = found.map((search) => ({ ...search, layer: tuningLayer(search, found, config.privacy.targetEpsilon) }));
  for (const { layer, options, runId } of filed) {
    if (layers[layer]) throw new Error(`--params-from-tuning: two searches for "${layer}" (the second is ${runId})`);
    layers[layer] = options;
  }
  const source = filed.map(({ runId, family, dp, unit, layer, best }) => ({
    tuningRunId: runId,
    family,
    dp,
    ...(dp ? { unit } : {}),
    epsilonPerTrial: best.epsilonPerTrial,
    layer,
    bestTrialRunId: best.trialRunId,
    validation: best.validation,
  }));
  return { _source: source, ...layers } as Params;
}

/** A tuning search as paramsFromTuning files it: ε null for a non-private search. */
interface FiledSearch {
  family: ModelFamily;
  dp: boolean;
  unit: string;
  epsilon: number | null;
}

/** The params layer (cellOptions) a search's best config is filed under, among all the searches given. */
function tuningLayer(search: FiledSearch, all: FiledSearch[], pipelineEpsilon: number): string {
  const { family, dp, unit, epsilon } = search;
  const sameUnit = all.filter((other) => other.family === family && other.dp && other.unit === unit);
  if (dp && epsilon !== pipelineEpsilon && new Set(sameUnit.map((other) => other.epsilon)).size > 1)
    return `${family}:eps=${epsilon}:${unit}`;
  const twin = all.some((other) => other.family === family && other.dp !== dp);
  // A DP search at the card unit sets the family's card cells only ("<family>:dp:card", over "<family>:dp").
  return dp && unit === 'card' ? `${family}:dp:card` : twin ? `${family}:${dp ? 'dp' : 'non-private'}` : family;
}

const privacyName = (epsilon: number | null) => (epsilon === null ? 'non-private' : `ε = ${epsilon}`);

/** The options of one cell: config.yaml's training settings, the params file's overrides, then the cell's own fields. */
function cellOptions(key: CellKey, seed: number, base: Omit<ExperimentOptions, 'protocol'>, params: Params): ExperimentOptions {
  const { family, epsilon, unit } = key;
  const dp = epsilon !== null;
  const layers = [
    'default',
    family,
    `${family}:${dp ? 'dp' : 'non-private'}`,
    ...(dp ? [`${family}:dp:${unit}`, `${family}:eps=${epsilon}`, `${family}:eps=${epsilon}:${unit}`] : []),
  ];
  // A non-private cell starts from the non-private pipeline's settings (cosine decay: temporal/pipeline.ts), as the
  // non-private tuning trials do, whatever config.yaml's pipeline.training.dp is.
  const start = { ...base, learningRateDecay: dp ? 'none' : 'cosine' };
  const merged = Object.assign(start, ...layers.map((layer) => params[layer] ?? {}));
  // Stratified sampling is DP-SGD's, and refused with the card unit: class-weight stands in where it cannot run.
  const balance = merged.balance === 'stratified' && (!dp || unit === 'card') ? 'class-weight' : merged.balance;
  return {
    ...merged,
    balance,
    protocol: HANDBOOK_PROTOCOL,
    family,
    dp,
    targetEpsilon: epsilon ?? merged.targetEpsilon,
    ...(unit ? { privacyUnit: unit } : { privacyUnit: undefined }),
    seed,
  };
}

function summary(values: number[]): Summary {
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  if (values.length < 2) return { mean, sd: null };
  const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, sd: Math.sqrt(variance) };
}

async function runCell(splits: SplitFeatures, key: CellKey, seeds: number[], base: Omit<ExperimentOptions, 'protocol'>, params: Params) {
  const started = performance.now();
  const runs: Run[] = [];
  const scores: Float32Array[] = [];
  let options: ExperimentOptions | undefined;
  try {
    for (const seed of seeds) {
      options = cellOptions(key, seed, base, params);
      const result = await runExperimentOnSplits(splits, options);
      scores.push(result.testScores.scores);
      runs.push({
        seed,
        auc_roc: result.test.aucRoc,
        average_precision: result.test.averagePrecision,
        card_precision_at_100: result.test.cardPrecisionAt100,
        intervals: result.test.intervals,
        epsilon_spent: result.privacy.training?.epsilon ?? null,
        train_seconds: result.seconds.train,
      });
      process.stderr.write(
        `quality: ${key.family}, ${privacyName(key.epsilon)}${key.unit ? ` (${key.unit})` : ''}, seed ${seed}: ` +
          `AP ${result.test.averagePrecision.toFixed(3)} in ${result.seconds.total.toFixed(0)} s\n`,
      );
    }
  } catch (err) {
    // One family failing (e.g. not available yet) does not stop the grid: the cell says why.
    return { ...key, seeds, runs, error: err instanceof Error ? err.message : String(err), seconds: (performance.now() - started) / 1000 };
  }
  const { protocol: _protocol, seed: _seed, ...settings } = options as ExperimentOptions;
  const intervals = bootstrapMeanIntervals(splits.test, scores, DEFAULT_BOOTSTRAP);
  return {
    ...key,
    seeds,
    options: settings,
    auc_roc: summary(runs.map((run) => run.auc_roc)),
    average_precision: { ...summary(runs.map((run) => run.average_precision)), interval: intervals.averagePrecision },
    card_precision_at_100: { ...summary(runs.map((run) => run.card_precision_at_100)), interval: intervals.cardPrecisionAt100 },
    runs,
    seconds: (performance.now() - started) / 1000,
  } satisfies Cell;
}

const fixed = (value: number) => value.toFixed(3);
const meanSd = (s: Summary) => (s.sd === null ? fixed(s.mean) : `${fixed(s.mean)} ± ${fixed(s.sd)}`);
const withInterval = (s: Summary & { interval: Interval }) => `${meanSd(s)} [${fixed(s.interval.low)}, ${fixed(s.interval.high)}]`;

/** The README's table: one row per cell, the unit as a column. */
function markdownTable(cells: Cell[]): string {
  const level = cells.find((cell) => cell.average_precision)?.average_precision?.interval.level ?? DEFAULT_BOOTSTRAP.level;
  const lines = [
    `| family | privacy | unit | AUC | AP [${100 * level} % CI] | CP@100 [${100 * level} % CI] | seeds |`,
    '|---|---|---|---|---|---|---|',
  ];
  for (const cell of cells) {
    const head = `| ${cell.family} | ${privacyName(cell.epsilon)} | ${cell.unit ?? '—'} |`;
    if (cell.error || !cell.auc_roc || !cell.average_precision || !cell.card_precision_at_100) {
      lines.push(`${head} failed: ${cell.error ?? 'no result'} | | | ${cell.seeds.length} |`);
      continue;
    }
    lines.push(
      `${head} ${meanSd(cell.auc_roc)} | ${withInterval(cell.average_precision)} | ${withInterval(cell.card_precision_at_100)} | ${cell.runs.length} |`,
    );
  }
  return lines.join('\n');
}

function list<T>(value: string | undefined, fallback: readonly T[], parse: (item: string) => T | undefined, rule: string): T[] {
  if (value === undefined) return [...fallback];
  const items = value.split(',').map((item) => item.trim());
  return items.map((item) => {
    const parsed = parse(item);
    if (parsed === undefined) throw new Error(`"${item}": ${rule}`);
    return parsed;
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      families: { type: 'string' },
      epsilons: { type: 'string' },
      units: { type: 'string' },
      seeds: { type: 'string' },
      params: { type: 'string' },
      'params-from-tuning': { type: 'string' },
      'write-params': { type: 'string' },
      customers: { type: 'string', default: String(HANDBOOK_DEFAULTS.customers) },
      days: { type: 'string', default: String(HANDBOOK_DEFAULTS.days) },
      'data-seed': { type: 'string', default: String(HANDBOOK_DEFAULTS.seed) },
      out: { type: 'string' },
      markdown: { type: 'boolean', default: false },
      from: { type: 'string' },
    },
  });
  if (values.from) {
    const saved = JSON.parse(readFileSync(values.from, 'utf8'));
    console.log(values.markdown ? markdownTable(saved.cells) : JSON.stringify(saved, null, 2));
    return;
  }
  const families = list(
    values.families,
    MODEL_FAMILIES,
    (f) => MODEL_FAMILIES.find((m) => m === f),
    `--families: one of ${MODEL_FAMILIES.join(', ')}`,
  );
  const epsilons = list<number | null>(
    values.epsilons,
    EPSILONS,
    (e) => (e === 'non-private' || e === 'none' ? null : Number(e) > 0 ? Number(e) : undefined),
    '--epsilons: non-private or a number > 0',
  );
  const units = list(values.units, PRIVACY_UNITS, (u) => PRIVACY_UNITS.find((p) => p === u), `--units: one of ${PRIVACY_UNITS.join(', ')}`);
  const seeds = list(
    values.seeds,
    SEEDS,
    (s) => (Number.isInteger(Number(s)) && Number(s) >= 0 ? Number(s) : undefined),
    '--seeds: whole numbers >= 0',
  );
  const config = loadConfig();
  const base = pipelineSettings(config).training.options;
  if (values.params && values['params-from-tuning']) throw new Error('--params and --params-from-tuning: give one');
  const params = values['params-from-tuning']
    ? checkParams(await paramsFromTuning(config, values['params-from-tuning'].split(',')), base, '--params-from-tuning')
    : values.params
      ? checkParams(JSON.parse(readFileSync(values.params, 'utf8')), base, `--params ${values.params}`)
      : {};
  if (values['write-params']) {
    writeFileSync(values['write-params'], `${JSON.stringify(params, null, 2)}\n`);
    process.stderr.write(`quality: wrote ${values['write-params']}\n`);
    return;
  }
  const backend = await selectBackend(config.tensorflow.backend, () => undefined);
  const [customers, days, dataSeed] = [Number(values.customers), Number(values.days), Number(values['data-seed'])];
  const data = simulatedSplits(customers, days, dataSeed);
  const { splits } = data;
  process.stderr.write(`quality: ${customers} customers, ${data.rows} rows, simulated and featurised in ${data.seconds.toFixed(1)} s\n`);
  const keys: CellKey[] = families.flatMap((family) =>
    epsilons.flatMap((epsilon): CellKey[] =>
      epsilon === null ? [{ family, epsilon, unit: null }] : units.map((unit) => ({ family, epsilon, unit })),
    ),
  );
  const report = {
    bench: 'quality',
    node: process.version,
    backend,
    load_average: loadavg()[0],
    data: {
      customers,
      days,
      seed: dataSeed,
      periods: splits.periods,
      train: { rows: splits.train.rows, frauds: splits.train.y.reduce((n, v) => n + v, 0) },
      test: { rows: splits.test.rows, frauds: splits.test.y.reduce((n, v) => n + v, 0) },
      seconds: data.seconds,
    },
    bootstrap: { ...DEFAULT_BOOTSTRAP, unit: 'card' },
    params: values.params ?? values['params-from-tuning'] ?? null,
    params_source: (params as { _source?: unknown })._source ?? null,
    cells: [] as Cell[],
  };
  for (const key of keys) {
    report.cells.push(await runCell(splits, key, seeds, base, params));
    if (values.out) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  }
  console.log(values.markdown ? markdownTable(report.cells) : JSON.stringify(report, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
