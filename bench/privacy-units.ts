// Model quality by privacy unit: test ROC AUC, average precision and card precision@100 (as ml/experiment.ts computes
// them) for unit ∈ {transaction, card} × ε ∈ {1, 3, 8}, on the default simulation (5,000 customers) and a larger
// population, with the experiment's DP defaults (those of `fraudops experiment --dp on`) and the handbook protocol.
//   One cell:  npx tsx bench/privacy-units.ts --unit card --epsilon 3 --customers 50000
//   The grid:  npx tsx bench/privacy-units.ts --grid [--customers 5000,50000]
// Each finished cell is appended to --out (JSON, rewritten after every cell) and printed as one JSON line; a grid
// simulates and computes features once per population.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { PrivacyUnit } from '../ml/dpsgd/types';
import { type ExperimentOptions, runExperimentOnSplits, type SplitFeatures } from '../ml/experiment';
import { HANDBOOK_PROTOCOL } from '../ml/protocol';
import { selectBackend } from '../ml/tensorflow';
import { simulatedSplits } from './handbook-data';

const UNITS: PrivacyUnit[] = ['transaction', 'card'];
const EPSILONS = [1, 3, 8];

/** `fraudops experiment --dp on` defaults (cli/experiment.ts). */
function experimentOptions(unit: PrivacyUnit, targetEpsilon: number, seed: number): ExperimentOptions {
  return {
    protocol: HANDBOOK_PROTOCOL,
    balance: 'class-weight',
    smoteRatio: 0.1,
    smoteK: 5,
    dp: true,
    privacyUnit: unit,
    targetEpsilon,
    delta: 1e-6,
    accountant: 'pld',
    clipNorm: 3,
    samplingRate: 0.1,
    batchSize: 256,
    hidden: [64, 32],
    epochs: 30,
    learningRate: 0.02,
    learningRateDecay: 'none',
    optimizer: 'adam',
    transform: 'fixed',
    seed,
  };
}

async function runCell(splits: SplitFeatures, customers: number, unit: PrivacyUnit, epsilon: number, seed: number) {
  const started = performance.now();
  const result = await runExperimentOnSplits(splits, experimentOptions(unit, epsilon, seed));
  const t = result.privacy.training;
  return {
    customers,
    unit,
    target_epsilon: epsilon,
    epsilon: t?.epsilon ?? null,
    units: t?.units ?? null,
    sampling_rate: t?.samplingRate ?? null,
    noise_multiplier: t?.noiseMultiplier ?? null,
    steps: t?.steps ?? null,
    auc_roc: result.test.aucRoc,
    average_precision: result.test.averagePrecision,
    card_precision_at_100: result.test.cardPrecisionAt100,
    train_rows: result.data.train.rows,
    train_frauds: result.data.train.frauds,
    test_rows: result.test.rows,
    train_seconds: result.seconds.train,
    cell_seconds: (performance.now() - started) / 1000,
    seed,
    load_average: loadavg()[0],
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      unit: { type: 'string' },
      epsilon: { type: 'string' },
      customers: { type: 'string', default: '5000' },
      days: { type: 'string', default: '183' },
      seed: { type: 'string', default: '0' },
      grid: { type: 'boolean', default: false },
      out: { type: 'string', default: 'privacy-units.json' },
    },
  });
  const populations = (values.customers as string).split(',').map(Number);
  const units = values.grid && !values.unit ? UNITS : [values.unit as PrivacyUnit];
  const epsilons = values.grid && !values.epsilon ? EPSILONS : [Number(values.epsilon)];
  if (units.some((u) => !UNITS.includes(u)) || epsilons.some((e) => !(e > 0)) || populations.some((n) => !(n >= 1))) {
    throw new Error('give --unit transaction|card and --epsilon <e> (or --grid), --customers <n[,n…]> whole numbers >= 1');
  }
  const backend = await selectBackend('tensorflow', () => undefined);
  const out = values.out as string;
  const cells: unknown[] = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')).cells : [];
  for (const customers of populations) {
    const { splits, seconds, rows } = simulatedSplits(customers, Number(values.days), Number(values.seed));
    process.stderr.write(`privacy-units: ${customers} customers, ${rows} rows, simulated and featurised in ${seconds.toFixed(1)} s\n`);
    for (const unit of units) {
      for (const epsilon of epsilons) {
        const cell = {
          ...(await runCell(splits, customers, unit, epsilon, Number(values.seed))),
          data_seconds: seconds,
          backend,
        };
        cells.push(cell);
        console.log(JSON.stringify(cell));
        writeFileSync(out, `${JSON.stringify({ bench: 'privacy-units', node: process.version, cells }, null, 2)}\n`);
      }
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
