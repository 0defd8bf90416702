// SMOTE time, ours vs imbalanced-learn, on the same data in the same run. Prints one JSON object:
// ours_seconds / imblearn_seconds are medians of REPEATS timed fit_resample calls (after one warm-up),
// measured in-process on data already in memory; ratio = ours_seconds / imblearn_seconds (< 1: ours is faster).
// Python: $FRAUDOPS_TOOLS_PYTHON (default /tmp/venv-sklearn/bin/python) with imbalanced-learn installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Rng } from '../ml/random';
import { smote } from '../ml/smote';

const ROWS = 100_000;
const FEATURES = 15;
const MINORITY_SHARE = 0.01;
const RATIO = 0.1;
const K = 5;
const REPEATS = 9;
const PYTHON = process.env.FRAUDOPS_TOOLS_PYTHON ?? '/tmp/venv-sklearn/bin/python';

function gaussian(random: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - random.uniform())) * Math.cos(2 * Math.PI * random.uniform());
}

function makeData(): { x: Float64Array; y: Uint8Array } {
  const random = new Rng([2024]);
  const x = new Float64Array(ROWS * FEATURES);
  const y = new Uint8Array(ROWS);
  for (let i = 0; i < ROWS; i++) {
    y[i] = random.uniform() < MINORITY_SHARE ? 1 : 0;
    for (let j = 0; j < FEATURES; j++) x[i * FEATURES + j] = gaussian(random) + 1.5 * y[i];
  }
  return { x, y };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const PYTHON_SNIPPET = `
import json, sys, time
import numpy as np
import imblearn
from imblearn.over_sampling import SMOTE
folder, rows, features, ratio, k, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
x = np.fromfile(folder + "/x.f64", dtype="<f8").reshape(rows, features)
y = np.fromfile(folder + "/y.u8", dtype=np.uint8)
times = []
for run in range(repeats + 1):
    start = time.perf_counter()
    xr, yr = SMOTE(k_neighbors=k, sampling_strategy=ratio, random_state=run).fit_resample(x, y)
    if run:
        times.append(time.perf_counter() - start)
print(json.dumps({"seconds": sorted(times)[len(times) // 2], "synthetic": int(len(yr) - rows), "version": imblearn.__version__}))
`;

function main(): void {
  const { x, y } = makeData();
  let minority = 0;
  for (const label of y) minority += label;

  const times: number[] = [];
  let synthetic = 0;
  for (let run = 0; run <= REPEATS; run++) {
    const start = process.hrtime.bigint();
    const result = smote({ x, y, rows: ROWS, cols: FEATURES }, { k: K, ratio: RATIO, seed: run });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (run) times.push(seconds);
    synthetic = result.synthetic;
  }

  const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-bench-smote-'));
  try {
    writeFileSync(path.join(dir, 'x.f64'), new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    writeFileSync(path.join(dir, 'y.u8'), y);
    const args = ['-c', PYTHON_SNIPPET, dir, ROWS, FEATURES, RATIO, K, REPEATS].map(String);
    const python = spawnSync(PYTHON, args, { encoding: 'utf8' });
    if (python.status !== 0) throw new Error(`${PYTHON} failed (${python.status ?? python.error}): ${python.stderr}`);
    const theirs: { seconds: number; synthetic: number; version: string } = JSON.parse(python.stdout);
    if (theirs.synthetic !== synthetic) throw new Error(`synthetic rows differ: ours ${synthetic}, imbalanced-learn ${theirs.synthetic}`);
    const ours = median(times);
    console.log(
      JSON.stringify({
        ours_seconds: ours,
        imblearn_seconds: theirs.seconds,
        ratio: ours / theirs.seconds,
        rows: ROWS,
        features: FEATURES,
        minority,
        synthetic,
        sampling_strategy: RATIO,
        k: K,
        repeats: REPEATS,
        imblearn_version: theirs.version,
        node: process.version,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
