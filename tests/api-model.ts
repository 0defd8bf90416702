// Test and benchmark helper: a small deterministic model bundle (15-32-16-1 MLP, fixed transform), realistic feature
// rows, and an in-memory ServingModel, so API tests need no training run.

import type { ModelVersion } from '../clients/mlflow';
import { loadBundle, type ModelBundleFiles, packBundle } from '../ml/bundle';
import { NOISE_CITATION } from '../ml/dpsgd/noise';
import type { MlpParameters, PrivacySpent } from '../ml/dpsgd/types';
import { type FeatureSet, HANDBOOK_FEATURE_SET } from '../ml/feature-set';
import { FEATURE_COUNT, FEATURE_NAMES, type FeatureName } from '../ml/features';
import { buildPrivacyReport } from '../ml/privacy';
import { Rng } from '../ml/random';
import { fixedTransform, transformStep } from '../ml/transforms';
import type { ServingModel } from '../serving/champion-watcher';

export const TEST_THRESHOLD = 0.5;
export const TEST_EPSILON = 1;

/** What a transaction-level DP-SGD run with secret discrete-Gaussian noise reports spending (ε = TEST_EPSILON). */
export function testPrivacySpent(more: Partial<PrivacySpent> = {}): PrivacySpent {
  return {
    epsilon: TEST_EPSILON,
    delta: 1e-6,
    noiseMultiplier: 1.1,
    samplingRate: 0.01,
    steps: 1000,
    clipNorm: 1,
    accountant: 'rdp',
    unit: 'transaction',
    units: 100_000,
    noise: { method: 'discrete-gaussian', secret: true, citation: NOISE_CITATION },
    ...more,
  };
}

export function testMlp(seed: number, hidden = [32, 16], inputs = FEATURE_COUNT): MlpParameters {
  const rng = new Rng([seed]);
  const widths = [inputs, ...hidden, 1];
  const layers = widths.slice(1).map((out, l) => ({
    weights: Float32Array.from({ length: widths[l] * out }, () => rng.normal(0, 1 / Math.sqrt(widths[l]))),
    bias: Float32Array.from({ length: out }, () => rng.normal(0, 0.1)),
  }));
  return { inputs, hidden, layers };
}

/**
 * A verified bundle; a different seed gives different weights, a different createdAt a different bundle hash. The
 * model takes the inputs of `features` (the handbook's 15 by default).
 */
export async function testBundle(
  seed = 1,
  createdAt = new Date(Date.UTC(2026, 0, 1, 0, 0, seed)).toISOString(),
  features: FeatureSet = HANDBOOK_FEATURE_SET,
): Promise<ModelBundleFiles> {
  const transform = fixedTransform(features);
  return packBundle({
    model: testMlp(seed, [32, 16], features.names.length),
    transform,
    features,
    labelDelayDays: 7,
    threshold: TEST_THRESHOLD,
    metrics: { averagePrecision: 0.5 + seed / 100, rocAuc: 0.9 },
    privacy: buildPrivacyReport({
      spent: testPrivacySpent(),
      records: 100_000,
      preprocessing: [transformStep(transform)],
      threshold: { value: TEST_THRESHOLD, split: 'validation' },
    }),
    createdAt,
  });
}

/** A loaded test model as a watcher would serve it (registry fields made up). */
export async function testServingModel(version = '1', seed = 1, features?: FeatureSet): Promise<ServingModel> {
  const loaded = await loadBundle(await testBundle(seed, undefined, features));
  const modelVersion: ModelVersion = {
    name: 'test-fraud-detector',
    version,
    creation_timestamp: Date.UTC(2026, 0, 2),
    source: 's3://test/models/x',
    status: 'READY',
    tags: [],
    aliases: ['champion'],
  };
  return { version, loaded, modelVersion, loadedAt: new Date().toISOString() };
}

/** Feature rows in the simulator's ranges (rows × FEATURE_COUNT), each valid for POST /predict. */
export function testFeatureRows(rows: number, seed = 7): Float64Array {
  const rng = new Rng([seed]);
  const x = new Float64Array(rows * FEATURE_COUNT);
  for (let i = 0; i < rows; i++) {
    FEATURE_NAMES.forEach((name, j) => {
      x[i * FEATURE_COUNT + j] = name.includes('_RISK_')
        ? rng.uniform()
        : name.startsWith('TX_DURING_')
          ? rng.uniformInt(2)
          : name.includes('_NB_TX_')
            ? rng.uniformInt(60)
            : Math.round(rng.uniformRange(0, 300) * 100) / 100;
    });
  }
  return x;
}

/** Row `i` of `rows` as the {features} object of a request. */
export function featuresObject(rows: ArrayLike<number>, i: number): Record<FeatureName, number> {
  const out = {} as Record<FeatureName, number>;
  FEATURE_NAMES.forEach((name, j) => {
    out[name] = rows[i * FEATURE_COUNT + j];
  });
  return out;
}
