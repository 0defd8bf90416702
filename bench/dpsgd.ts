// DP-SGD throughput at several batch sizes: ours with DP (transaction-level clipping) against the same MLP trained
// non-privately by the same code (dp_cost), and our examples/s against Opacus on the same MLP, batch and data; then
// card-level clipping on its own. Prints one JSON object (progress on stderr).
//   node --import tsx bench/dpsgd.ts [--batches 512,1024,4096,16384] [--rounds 3] [--seconds 0.4] [--backend B]
// ROWS = max(67,000, 4 × the largest batch), so every sampling rate q = batch / ROWS is at most 0.25. In each round,
// for each batch: our DP, non-private and card-level trainers run side by side in alternating segments of about
// --seconds / SEGMENTS (so all three see the same machine load), then one Python run times every Opacus mode at every
// batch (tools/reference/opacus_bench.py). Headline figures are the fastest round of each (contention only slows a
// run down); medians and all rounds are reported too, with load averages. dp_cost = non-private / DP steps/s, same
// round; examples_per_s = steps/s × the expected batch q·N on both sides; opacus_examples_per_s is Opacus' fastest
// private mode at that batch; ratio_vs_opacus = ours / that (> 1: ours is faster). Targets (issue 14): ratio ≥ 1.5 and
// dp_cost ≤ 1.2 at every batch, transaction-level; `targets` says which are met.
//   Threads: TensorFlow's intra-/inter-op pools follow TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS (default: one
// per core); PyTorch keeps its defaults; both are reported. The DP noise is the exact discrete Gaussian on a grid
// (ml/dpsgd/noise.ts), drawn for long runs by a worker thread ahead of the step.
// Python: $FRAUDOPS_OPACUS_PYTHON (default /tmp/venv-opacus/bin/python) with tools/reference/opacus_bench-requirements.txt.
// --backend tensorflow|gpu|wasm|cpu (default $FRAUDOPS_TF_BACKEND, else tensorflow): our side's TensorFlow.js backend;
// gpu is the CUDA binding and stops the bench where TensorFlow lists no GPU (it never falls back to the CPU).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DpSgdTrainer, type TrainerOptions, type TrainingData } from '../ml/dpsgd';
import type { NoiseDescription } from '../ml/dpsgd/types';
import { Rng } from '../ml/random';
import { selectBackend, type TfBackendRequest, tf } from '../ml/tensorflow';

const MIN_ROWS = 67_000;
const FEATURES = 15;
const POSITIVE_SHARE = 0.02;
const ROWS_PER_CARD = 4;
const HIDDEN = [64, 32];
const NOISE_MULTIPLIER = 1;
const CLIP_NORM = 1;
const LEARNING_RATE = 1e-3;
const WARMUP = 3;
/** Alternating timed segments per trainer and round. */
const SEGMENTS = 6;
const TARGET_RATIO = 1.5;
const TARGET_DP_COST = 1.2;
const PYTHON = process.env.FRAUDOPS_OPACUS_PYTHON ?? '/tmp/venv-opacus/bin/python';
const SCRIPT = path.join(__dirname, '../tools/reference/opacus_bench.py');
const BACKENDS: readonly TfBackendRequest[] = ['tensorflow', 'gpu', 'wasm', 'cpu'];
const USAGE = `usage: bench/dpsgd.ts [--batches 512,1024,4096,16384] [--rounds 3] [--seconds 0.4] [--backend ${BACKENDS.join('|')}]`;

interface Settings {
  batches: number[];
  rounds: number;
  seconds: number;
  backend: TfBackendRequest;
}

/** The command line; null for --help. */
function settings(argv: string[]): Settings | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      batches: { type: 'string', default: '512,1024,4096,16384' },
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '0.4' },
      backend: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return null;
  const batches = values.batches.split(',').map(Number);
  if (!batches.length || !batches.every((b) => Number.isSafeInteger(b) && b >= 16)) {
    throw new Error(`--batches must be whole numbers >= 16, comma-separated; got "${values.batches}"\n${USAGE}`);
  }
  const rounds = Number(values.rounds);
  if (!(Number.isSafeInteger(rounds) && rounds >= 1)) throw new Error(`--rounds must be a whole number >= 1; got "${values.rounds}"`);
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds must be a number > 0; got "${values.seconds}"`);
  const backend = (values.backend ?? process.env.FRAUDOPS_TF_BACKEND ?? 'tensorflow') as TfBackendRequest;
  if (!BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')}, got "${backend}"\n${USAGE}`);
  return { batches, rounds, seconds, backend };
}

/** Rows with a shifted class, each in a card of ROWS_PER_CARD consecutive rows. */
function makeData(rows: number): TrainingData {
  const random = new Rng([2025]);
  const x = new Float32Array(rows * FEATURES);
  const y = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    y[i] = random.uniform() < POSITIVE_SHARE ? 1 : 0;
    for (let j = 0; j < FEATURES; j++) x[i * FEATURES + j] = random.normal() + (j < 5 ? 0.8 * y[i] : 0);
  }
  const groups = Int32Array.from({ length: rows }, (_, i) => Math.floor(i / ROWS_PER_CARD));
  return { x, y, rows, cols: FEATURES, groups };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const best = (values: number[]) => Math.max(...values);

type Side = 'dp' | 'nonprivate' | 'card';
const SIDES: readonly Side[] = ['dp', 'nonprivate', 'card'];

function privacyOf(side: Side, batch: number, rows: number): TrainerOptions['privacy'] {
  if (side === 'nonprivate') return { mode: 'off', batchSize: batch };
  const dp = { mode: 'dp', clipNorm: CLIP_NORM, delta: 1e-6, noiseMultiplier: NOISE_MULTIPLIER } as const;
  // Card level: q over cards, so that the expected rows a step are the same batch.
  return side === 'card' ? { ...dp, unit: 'card', samplingRate: batch / rows } : { ...dp, samplingRate: batch / rows };
}

/** How the DP runs drew their noise (the last DP trainer's PrivacySpent.noise). */
let noise: NoiseDescription | null = null;

/**
 * Steps/s of each side at one batch size: the three trainers step in alternating segments (each about
 * seconds / SEGMENTS, sized from the warm-up), so their figures are paired under the same load.
 */
function oursRound(data: TrainingData, batch: number, seconds: number, round: number): Record<Side, number> {
  const budgetSteps = 1 + Math.ceil(seconds / 1e-4); // an upper bound: no step takes under 0.1 ms
  const epochs = Math.ceil((budgetSteps * batch) / data.rows) + 1;
  const trainers = SIDES.map((side) =>
    DpSgdTrainer.create(data, {
      hidden: HIDDEN,
      epochs,
      learningRate: LEARNING_RATE,
      optimizer: 'adam',
      seed: round,
      privacy: privacyOf(side, batch, data.rows),
    }),
  );
  try {
    const perStep = trainers.map((trainer) => {
      const start = performance.now();
      for (let s = 0; s < WARMUP; s++) trainer.step();
      return (performance.now() - start) / 1000 / WARMUP;
    });
    const segmentSteps = perStep.map((t) => Math.max(1, Math.round(seconds / SEGMENTS / t)));
    const elapsed = [0, 0, 0];
    for (let segment = 0; segment < SEGMENTS; segment++) {
      trainers.forEach((trainer, k) => {
        const start = process.hrtime.bigint();
        for (let s = 0; s < segmentSteps[k]; s++) trainer.step();
        elapsed[k] += Number(process.hrtime.bigint() - start) / 1e9;
      });
    }
    noise = trainers[0].privacySpent()?.noise ?? noise;
    return Object.fromEntries(SIDES.map((side, k) => [side, (segmentSteps[k] * SEGMENTS) / elapsed[k]])) as Record<Side, number>;
  } finally {
    for (const trainer of trainers) trainer.dispose();
  }
}

interface OpacusRound {
  rates: Array<{ batch: number; steps_per_s: Record<string, number> }>;
  threads: number;
  interop_threads: number;
  torch_version: string;
  opacus_version: string;
}

/** One timed run of every Opacus mode at every rate, on the data in `dir`; throws with Python's last lines on failure. */
function opacusRound(dir: string, rows: number, rates: number[], seconds: number): OpacusRound {
  const args = [SCRIPT, dir, rows, FEATURES, HIDDEN.join(','), rates.join(','), seconds / 2, NOISE_MULTIPLIER, CLIP_NORM, LEARNING_RATE];
  const python = spawnSync(PYTHON, args.map(String), { encoding: 'utf8' });
  if (python.status !== 0) {
    throw new Error(
      `${PYTHON} failed (${python.status ?? python.error}): ${(python.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  return JSON.parse(python.stdout);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const run = settings(process.argv.slice(2));
  if (run === null) {
    console.log(USAGE);
    return;
  }
  const backend = await selectBackend(run.backend, (line) => console.error(line)).catch((err: Error) => {
    console.error(`bench/dpsgd.ts --backend ${run.backend}: ${err.message}`);
    process.exit(2);
  });
  const rows = Math.max(MIN_ROWS, 4 * Math.max(...run.batches));
  const rates = run.batches.map((batch) => batch / rows);
  const data = makeData(rows);
  const loadBefore = loadavg();
  const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-bench-dpsgd-'));
  writeFileSync(path.join(dir, 'x.f32'), new Uint8Array(data.x.buffer, data.x.byteOffset, data.x.byteLength));
  writeFileSync(path.join(dir, 'y.u8'), data.y);
  const ours = run.batches.map(() => ({ dp: [] as number[], nonprivate: [] as number[], card: [] as number[], load: [] as number[] }));
  const opacusRounds: OpacusRound[] = [];
  let opacusError: string | null = null;
  try {
    for (let round = 0; round < run.rounds; round++) {
      run.batches.forEach((batch, b) => {
        const rates = oursRound(data, batch, run.seconds, round);
        for (const side of SIDES) ours[b][side].push(rates[side]);
        ours[b].load.push(loadavg()[0]);
        console.error(
          `round ${round + 1}/${run.rounds} batch ${batch}: dp ${rates.dp.toFixed(1)} steps/s, non-private ${rates.nonprivate.toFixed(1)}, card ${rates.card.toFixed(1)}`,
        );
      });
      if (opacusError === null) {
        try {
          opacusRounds.push(opacusRound(dir, rows, rates, run.seconds));
          console.error(`round ${round + 1}/${run.rounds} opacus: ${JSON.stringify(opacusRounds[round].rates)}`);
        } catch (err) {
          opacusError = (err as Error).message;
          console.error(`opacus: ${opacusError}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const perBatch = run.batches.map((batch, b) => {
    const expected = rates[b] * rows;
    const { dp, nonprivate, card } = ours[b];
    const opacusModes: Record<string, number[]> = {};
    for (const r of opacusRounds) {
      for (const [mode, v] of Object.entries(r.rates[b].steps_per_s)) {
        opacusModes[mode] ??= [];
        opacusModes[mode].push(v);
      }
    }
    const opacusBest = Object.fromEntries(Object.entries(opacusModes).map(([mode, v]) => [mode, best(v)]));
    const fastest = Object.entries(opacusBest)
      .filter(([mode]) => mode !== 'nonprivate')
      .sort((x, y) => y[1] - x[1])[0];
    const opacusExamples = fastest ? fastest[1] * expected : null;
    const ratio = (stepsPerS: number) => (opacusExamples ? round3((stepsPerS * expected) / opacusExamples) : null);
    // dp_cost pairs the two sides of the same round (same load); the headline is its lowest round.
    const costs = dp.map((v, r) => nonprivate[r] / v);
    const cardCosts = card.map((v, r) => nonprivate[r] / v);
    return {
      batch,
      sampling_rate: rates[b],
      ours_dp_steps_per_s: round3(best(dp)),
      ours_nonprivate_steps_per_s: round3(best(nonprivate)),
      dp_cost: round3(Math.min(...costs)),
      ours_examples_per_s: Math.round(best(dp) * expected),
      opacus_examples_per_s: opacusExamples && Math.round(opacusExamples),
      opacus_mode: fastest?.[0] ?? null,
      ratio_vs_opacus: ratio(best(dp)),
      card: {
        steps_per_s: round3(best(card)),
        dp_cost: round3(Math.min(...cardCosts)),
        examples_per_s: Math.round(best(card) * expected),
        ratio_vs_opacus: ratio(best(card)),
        rows_per_card: ROWS_PER_CARD,
      },
      medians: {
        ours_dp_steps_per_s: round3(median(dp)),
        ours_nonprivate_steps_per_s: round3(median(nonprivate)),
        dp_cost: round3(median(costs)),
        card_steps_per_s: round3(median(card)),
        opacus_steps_per_s: Object.fromEntries(Object.entries(opacusModes).map(([mode, v]) => [mode, round3(median(v))])),
      },
      rounds: { dp: dp.map(round3), nonprivate: nonprivate.map(round3), card: card.map(round3), load_average: ours[b].load },
      opacus_steps_per_s: Object.fromEntries(Object.entries(opacusBest).map(([mode, v]) => [mode, round3(v)])),
    };
  });
  const ratios = perBatch.map((b) => b.ratio_vs_opacus);
  console.log(
    JSON.stringify({
      batches: perBatch,
      targets: {
        ratio_vs_opacus: TARGET_RATIO,
        dp_cost: TARGET_DP_COST,
        ratio_met: ratios.every((r) => r !== null && r >= TARGET_RATIO),
        dp_cost_met: perBatch.every((b) => b.dp_cost <= TARGET_DP_COST),
      },
      opacus: opacusError
        ? { error: opacusError }
        : opacusRounds.length
          ? {
              threads: opacusRounds[0].threads,
              interop_threads: opacusRounds[0].interop_threads,
              torch: opacusRounds[0].torch_version,
              opacus: opacusRounds[0].opacus_version,
            }
          : null,
      ours_threads: {
        intra_op: process.env.TF_NUM_INTRAOP_THREADS ?? `default (${cpus().length})`,
        inter_op: process.env.TF_NUM_INTEROP_THREADS ?? `default (${cpus().length})`,
        noise_worker: 1,
      },
      model: { inputs: FEATURES, hidden: HIDDEN, outputs: 1, activation: 'relu', output: 'sigmoid' },
      rows,
      noise_multiplier: NOISE_MULTIPLIER,
      noise: noise && { method: noise.method, grid: noise.grid, inflation: noise.inflation },
      optimizer: 'adam',
      backend,
      tfjs_version: tf.version.tfjs,
      rounds: run.rounds,
      seconds_per_measurement: run.seconds,
      cpus: cpus().length,
      load_average_before: loadBefore,
      load_average_after: loadavg(),
      node: process.version,
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
