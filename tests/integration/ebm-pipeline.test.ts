// The pipeline trains, evaluates, registers and serves family ebm on the real stack (tiny data): the privacy ledger
// reserves the EBM's histogram releases before training, the model was trained with exactly that σ, and the champion
// bundle is an EBM that serving scores. And a retried EBM training after the model write keeps that model (no checkpoint,
// no fresh noise).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { encodeTraining } from '../../activities/balance';
import { createActivityDeps } from '../../activities/deps';
import { createTrainActivities, type TrainResult } from '../../activities/train';
import { MlflowClient } from '../../clients/mlflow';
import { championBundle } from '../../clients/model-registry';
import { createS3, getObjectBuffer, listKeys, putObjectBuffer } from '../../clients/s3';
import { loadConfig } from '../../config';
import { loadBundle } from '../../ml/bundle';
import type { LedgerReport } from '../../ml/privacy/ledger';
import { Rng } from '../../ml/random';
import { fixedTransform, transformStep } from '../../ml/transforms';
import { scorerFor } from '../../serving/forward';
import { pipelineSettings } from '../../temporal/pipeline';
import type { PipelineResult } from '../../workflows/training-pipeline';
import { createPipelineEnv, type PipelineEnv } from './pipeline-env';

const ROUNDS = 3;

describe('trainModel (family ebm) retried after the model was written', () => {
  const config = loadConfig();
  const deps = createActivityDeps(config, 'ebm-retry-test');
  const workflowId = `ebm-retry-${randomUUID().slice(0, 8)}`;
  after(async () => {
    await deps.s3.removeObjects(config.stack.s3.bucket, await listKeys(deps.s3, config.stack.s3.bucket, `pipelines/${workflowId}/`));
  });

  it('keeps the one model and its outcome: no fresh noise', async () => {
    const rows = 2000;
    const rng = new Rng([4]);
    const transform = fixedTransform();
    const x = Float32Array.from({ length: rows * transform.features.length }, () => rng.normal());
    const y = Uint8Array.from({ length: rows }, (_, i) => (i % 20 === 0 ? 1 : 0));
    const key = `pipelines/${workflowId}/training.bin`;
    const stored = { x, y, rows, records: rows, cards: rows, transform, preprocessing: [transformStep(transform)], assumptions: [] };
    await putObjectBuffer(deps.s3, config.stack.s3.bucket, key, encodeTraining(stored));
    const training = { key, examples: rows, records: rows, cards: rows, positives: rows / 20, syntheticRows: 0, inputs: 15 };
    const base = pipelineSettings(config).training;
    const settings = { ...base, options: { ...base.options, family: 'ebm' as const, dp: true, ebm: { rounds: 2 }, delta: 1e-5 } };
    const attempt = async (n: number) => {
      const env = new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'r1' }, attempt: n });
      const result: TrainResult = await env.run(createTrainActivities(deps, { device: 'cpu' }).trainModel, {
        training,
        settings,
        noiseMultiplier: 30,
      });
      return { result, model: await getObjectBuffer(deps.s3, config.stack.s3.bucket, result.modelKey) };
    };
    const first = await attempt(1);
    assert.deepEqual([first.result.resumedFromStep, first.result.steps], [0, 15 * 3]);
    assert.equal(first.result.spent?.noiseMultiplier, 30);
    assert.ok(first.result.spent?.noise.secret);
    const retry = await attempt(2);
    assert.equal(retry.result.resumedFromStep, retry.result.totalSteps, 'nothing trained again');
    assert.deepEqual(retry.result.spent, first.result.spent);
    assert.deepEqual(retry.result.assumptions, first.result.assumptions);
    assert.ok(retry.model.equals(first.model), 'the model written first is kept');
  });
});

describe('family ebm through the pipeline (real stack)', () => {
  let env: PipelineEnv;

  before(async () => {
    env = createPipelineEnv((s) => {
      Object.assign(s.pipeline.training, { family: 'ebm', ebm: { rounds: ROUNDS } });
      s.ingest.lakePrefix = `lake-${s.ingest.consumerGroup}`; // a lake of its own
      // RDP calibrates σ in milliseconds; the ledger composes by PLD whatever the accountant.
      Object.assign(s.privacy, { accountant: 'rdp', targetEpsilon: 1, lifetimeEpsilon: 10 });
    });
    const produced = await env.cli(['produce', '--simulate', '--customers', '200', '--terminals', '400', '--days', '40']);
    assert.equal(produced.code, 0, produced.stderr);
    env.startWorker('cpu');
  });
  after(() => env?.cleanup());

  it('reserves the releases in the ledger, trains with that σ, registers and serves an EBM', async (t) => {
    const run = await env.cli(['pipeline', 'run', '--wait', '--approve-as', 'alice']);
    assert.equal(run.code, 0, run.stderr);
    const result: PipelineResult = JSON.parse(run.stdout);
    assert.equal(result.stage, 'promoted');

    const inputs = 15;
    const ledger: LedgerReport = JSON.parse((await env.cli(['privacy', 'ledger', '--json'])).stdout);
    assert.equal(ledger.entries.length, 1);
    const mechanism = ledger.entries[0].mechanism;
    assert.ok(mechanism.kind === 'poisson-gaussian', JSON.stringify(mechanism));
    assert.deepEqual([mechanism.samplingRate, mechanism.steps], [1, inputs * (ROUNDS + 1)]);
    assert.equal(result.metrics.noiseMultiplier, mechanism.noiseMultiplier, 'training used the reserved σ');
    assert.equal(result.metrics.steps, mechanism.steps);
    assert.ok(result.epsilon !== null && result.epsilon <= 1, `ε ${result.epsilon}`);

    const mlflow = MlflowClient.fromConfig(env.config);
    const champion = await championBundle(
      { mlflow, s3: createS3(env.config), bucket: env.config.stack.s3.bucket },
      env.config.registry.modelName,
    );
    assert.equal(champion?.version.version, result.modelVersion);
    const loaded = await loadBundle(champion?.files ?? new Map());
    try {
      assert.equal(loaded.model, undefined);
      assert.equal(loaded.ebm?.terms.length, inputs);
      assert.equal(loaded.privacy.training?.mechanism, 'dp-ebm');
      assert.equal(loaded.privacy.training?.noiseMultiplier, mechanism.noiseMultiplier);
      assert.ok(loaded.privacy.covered, loaded.privacy.reasons.join('; '));
      assert.match(loaded.privacyMarkdown, /DP-EBM ran as accounted/);
      assert.doesNotMatch(loaded.privacyMarkdown, /class weight/);
      const scores = scorerFor(loaded)(new Float64Array(2 * inputs), 2);
      assert.equal(scores.length, 2);
      t.diagnostic(`AP ${result.metrics.averagePrecision.toFixed(3)}, ε ${result.epsilon?.toFixed(4)}, σ ${mechanism.noiseMultiplier}`);
    } finally {
      loaded.dispose();
    }
  });
});
