// DP-SGD throughput: our DP steps/s against the same MLP trained non-privately (same code, same batch size), and our
// examples/s against Opacus on the same MLP, batch size and data, in the same run. Prints one JSON object.
//   Each of ROUNDS rounds times STEPS steps (after WARMUP) of ours with DP, ours non-private, then every Opacus
//   variant (one Python run per round), so all see similar machine load. Headline numbers are the fastest round of
//   each (contention only ever slows a run down; on a shared machine PyTorch's OpenMP threads can slow down 10–100×
//   in a round when the cores are oversubscribed); medians and every round are reported too, with load averages.
//   dp_cost = non-private / DP steps/s (target <= 1.3). examples_per_s = steps/s × expected batch size (q·N) for
//   both sides. opacus_examples_per_s is Opacus' fastest private variant here (all listed in opacus.steps_per_s; see
//   tools/reference/opacus_bench.py); ratio_vs_opacus = ours / that (> 1: ours is faster).
//   The DP noise is the exact discrete Gaussian on a grid (ml/dpsgd/noise.ts), drawn for long runs by a worker thread
//   ahead of the step; `noise` in the output names the method, grid step and sensitivity inflation.
// q defaults to 0.01 (batch 670); FRAUDOPS_BENCH_SAMPLING_RATE overrides it.
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

const ROWS = 67_000;
const FEATURES = 15;
const POSITIVE_SHARE = 0.02;
const HIDDEN = [64, 32];
const SAMPLING_RATE = Number(process.env.FRAUDOPS_BENCH_SAMPLING_RATE ?? 0.01);
const BATCH = Math.round(SAMPLING_RATE * ROWS);
const NOISE_MULTIPLIER = 1;
const CLIP_NORM = 1;
const LEARNING_RATE = 1e-3;
const ROUNDS = 7;
const WARMUP = 20;
const STEPS = 100;
const PYTHON = process.env.FRAUDOPS_OPACUS_PYTHON ?? '/tmp/venv-opacus/bin/python';
const SCRIPT = path.join(__dirname, '../tools/reference/opacus_bench.py');

function makeData(): TrainingData {
  const random = new Rng([2025]);
  const x = new Float32Array(ROWS * FEATURES);
  const y = new Uint8Array(ROWS);
  for (let i = 0; i < ROWS; i++) {
    y[i] = random.uniform() < POSITIVE_SHARE ? 1 : 0;
    for (let j = 0; j < FEATURES; j++) x[i * FEATURES + j] = random.normal() + (j < 5 ? 0.8 * y[i] : 0);
  }
  return { x, y, rows: ROWS, cols: FEATURES };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const best = (values: number[]) => Math.max(...values);

function options(privacy: TrainerOptions['privacy'], round: number): TrainerOptions {
  const epochs = Math.ceil(((WARMUP + STEPS) * BATCH) / ROWS) + 1; // enough epochs for the timed steps at any q
  return { hidden: HIDDEN, epochs, learningRate: LEARNING_RATE, optimizer: 'adam', seed: round, privacy };
}

/** How the DP runs drew their noise (the last DP trainer's PrivacySpent.noise). */
let noise: NoiseDescription | null = null;

/** Steps/s of STEPS steps after WARMUP, with a fresh trainer. */
function stepsPerSecond(data: TrainingData, trainerOptions: TrainerOptions): number {
  const trainer = DpSgdTrainer.create(data, trainerOptions);
  try {
    for (let s = 0; s < WARMUP; s++) trainer.step();
    const start = process.hrtime.bigint();
    for (let s = 0; s < STEPS; s++) trainer.step();
    const rate = STEPS / (Number(process.hrtime.bigint() - start) / 1e9);
    noise = trainer.privacySpent()?.noise ?? noise;
    return rate;
  } finally {
    trainer.dispose();
  }
}

interface OpacusRound {
  steps_per_s: Record<string, number>;
  batch: number;
  threads: number;
  torch_version: string;
  opacus_version: string;
}

/** One timed run of every Opacus variant on the data in `dir`; throws with Python's last lines on failure. */
function opacusRound(dir: string): OpacusRound {
  const args = [SCRIPT, dir, ROWS, FEATURES, HIDDEN.join(','), SAMPLING_RATE, STEPS, 1, NOISE_MULTIPLIER, CLIP_NORM, LEARNING_RATE];
  const python = spawnSync(PYTHON, args.map(String), { encoding: 'utf8' });
  if (python.status !== 0) {
    throw new Error(
      `${PYTHON} failed (${python.status ?? python.error}): ${(python.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  return JSON.parse(python.stdout);
}

const BACKENDS: readonly TfBackendRequest[] = ['tensorflow', 'gpu', 'wasm', 'cpu'];
const USAGE = `usage: bench/dpsgd.ts [--backend ${BACKENDS.join('|')}]   (default: $FRAUDOPS_TF_BACKEND, else tensorflow)`;

/** The --backend flag; null for --help. */
function requestedBackend(argv: string[]): TfBackendRequest | null {
  const { values } = parseArgs({ args: argv, options: { backend: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return null;
  const backend = (values.backend ?? process.env.FRAUDOPS_TF_BACKEND ?? 'tensorflow') as TfBackendRequest;
  if (!BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')}, got "${backend}"\n${USAGE}`);
  return backend;
}

async function main(): Promise<void> {
  const requested = requestedBackend(process.argv.slice(2));
  if (requested === null) {
    console.log(USAGE);
    return;
  }
  const backend = await selectBackend(requested, (line) => console.error(line)).catch((err: Error) => {
    console.error(`bench/dpsgd.ts --backend ${requested}: ${err.message}`);
    process.exit(2);
  });
  const data = makeData();
  const loadBefore = loadavg();
  const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-bench-dpsgd-'));
  writeFileSync(path.join(dir, 'x.f32'), new Uint8Array(data.x.buffer, data.x.byteOffset, data.x.byteLength));
  writeFileSync(path.join(dir, 'y.u8'), data.y);
  const dp: number[] = [];
  const plain: number[] = [];
  const opacusRounds: OpacusRound[] = [];
  let opacusError: string | null = null;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const dpOptions = {
        mode: 'dp',
        clipNorm: CLIP_NORM,
        delta: 1e-5,
        samplingRate: SAMPLING_RATE,
        noiseMultiplier: NOISE_MULTIPLIER,
      } as const;
      dp.push(stepsPerSecond(data, options(dpOptions, round)));
      plain.push(stepsPerSecond(data, options({ mode: 'off', batchSize: BATCH }, round)));
      let line = `round ${round + 1}/${ROUNDS}: ours dp ${dp[round].toFixed(1)} steps/s, non-private ${plain[round].toFixed(1)}`;
      if (opacusError === null) {
        try {
          opacusRounds.push(opacusRound(dir));
          line += `; opacus ${JSON.stringify(opacusRounds[round].steps_per_s)}`;
        } catch (err) {
          opacusError = (err as Error).message;
        }
      }
      console.error(line);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const expectedBatch = SAMPLING_RATE * ROWS;
  const oursDp = best(dp);
  const oursPlain = best(plain);
  const opacusBest: Record<string, number> = {};
  const opacusMedian: Record<string, number> = {};
  for (const mode of Object.keys(opacusRounds[0]?.steps_per_s ?? {})) {
    const rounds = opacusRounds.map((r) => r.steps_per_s[mode]);
    opacusBest[mode] = best(rounds);
    opacusMedian[mode] = median(rounds);
  }
  const fastest = Object.entries(opacusBest)
    .filter(([mode]) => mode !== 'nonprivate')
    .sort((a, b) => b[1] - a[1])[0];
  const oursExamples = oursDp * expectedBatch;
  const opacusExamples = fastest ? fastest[1] * expectedBatch : null;
  console.log(
    JSON.stringify({
      ours_dp_steps_per_s: oursDp,
      ours_nonprivate_steps_per_s: oursPlain,
      dp_cost: oursPlain / oursDp,
      ours_examples_per_s: oursExamples,
      opacus_examples_per_s: opacusExamples,
      opacus_mode: fastest?.[0] ?? null,
      ratio_vs_opacus: opacusExamples ? oursExamples / opacusExamples : null,
      medians: {
        ours_dp_steps_per_s: median(dp),
        ours_nonprivate_steps_per_s: median(plain),
        dp_cost: median(plain) / median(dp),
        opacus_steps_per_s: opacusMedian,
      },
      opacus: opacusError
        ? { error: opacusError }
        : {
            steps_per_s: opacusBest,
            threads: opacusRounds[0].threads,
            torch: opacusRounds[0].torch_version,
            opacus: opacusRounds[0].opacus_version,
            rounds: opacusRounds.map((r) => r.steps_per_s),
          },
      model: { inputs: FEATURES, hidden: HIDDEN, outputs: 1, activation: 'relu', output: 'sigmoid' },
      rows: ROWS,
      sampling_rate: SAMPLING_RATE,
      batch_size: BATCH,
      noise_multiplier: NOISE_MULTIPLIER,
      noise: noise && { method: noise.method, grid: noise.grid, inflation: noise.inflation },
      optimizer: 'adam',
      backend,
      tfjs_version: tf.version.tfjs,
      rounds: ROUNDS,
      steps: STEPS,
      ours_dp_rounds: dp,
      ours_nonprivate_rounds: plain,
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
