// Exactly one accounted model per training attempt: the final step's checkpoint is durable before the model is
// written, so when the worker dies after the model write but before the activity completes, the retry resumes at
// the last step, trains nothing (no fresh noise) and keeps the model already written.
//
// The trainModel activity runs twice on the real S3 in a mock activity context: the first attempt's result is
// dropped, which leaves S3 exactly as a kill between the model write and the completion does (nothing is written
// after the model), and the second call is Temporal's retry of it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { encodeTraining, type TrainingSetRef } from '../../activities/balance';
import { createActivityDeps } from '../../activities/deps';
import { createTrainActivities, type TrainHeartbeat, type TrainResult } from '../../activities/train';
import { getObjectBuffer, listKeys, putObjectBuffer } from '../../clients/s3';
import { loadConfig } from '../../config';
import { Rng } from '../../ml/random';
import { fixedTransform, transformStep } from '../../ml/transforms';
import { pipelineSettings } from '../../temporal/pipeline';

const config = loadConfig();
const deps = createActivityDeps(config, 'train-retry-test');
const bucket = config.stack.s3.bucket;
const workflowId = `train-retry-${randomUUID().slice(0, 8)}`;
const ROWS = 4000;

async function storeTrainingSet(): Promise<TrainingSetRef> {
  const rng = new Rng([3]);
  const transform = fixedTransform();
  const cols = transform.features.length;
  const x = Float32Array.from({ length: ROWS * cols }, () => rng.normal());
  const y = Uint8Array.from({ length: ROWS }, (_, i) => (i % 10 === 0 ? 1 : 0));
  const key = `pipelines/${workflowId}/training.bin`;
  const training = { x, y, rows: ROWS, records: ROWS, cards: ROWS, transform, preprocessing: [transformStep(transform)], assumptions: [] };
  await putObjectBuffer(deps.s3, bucket, key, encodeTraining(training));
  return { key, examples: ROWS, records: ROWS, cards: ROWS, positives: ROWS / 10, syntheticRows: 0 };
}

/** One attempt of trainModel, with the heartbeats it sent. */
async function attempt(n: number, training: TrainingSetRef) {
  const base = pipelineSettings(config).training;
  // No periodic checkpoint within the run: only the final one can let a retry skip training.
  const settings = {
    ...base,
    options: {
      ...base.options,
      dp: true,
      privacyUnit: 'transaction' as const,
      hidden: [8],
      epochs: 3,
      delta: 1e-5,
      accountant: 'rdp' as const,
    },
    checkpointEverySeconds: 3600,
  };
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'r1' }, attempt: n });
  const beats: TrainHeartbeat[] = [];
  env.on('heartbeat', (beat: TrainHeartbeat) => beats.push({ ...beat }));
  const result: TrainResult = await env.run(createTrainActivities(deps, { device: 'cpu' }).trainModel, { training, settings });
  const stat = await deps.s3.statObject(bucket, result.modelKey);
  return { result, beats, model: await getObjectBuffer(deps.s3, bucket, result.modelKey), stat };
}

describe('trainModel retried after the model was written', () => {
  after(async () => {
    const keys = await listKeys(deps.s3, bucket, `pipelines/${workflowId}/`);
    await deps.s3.removeObjects(bucket, keys);
  });

  it('resumes at the final step, trains nothing and keeps the one model', async () => {
    const training = await storeTrainingSet();
    const first = await attempt(1, training);
    assert.equal(first.result.resumedFromStep, 0);
    assert.equal(first.result.steps, first.result.totalSteps);
    assert.ok(first.result.spent?.noise.secret, 'the noise is secret');

    const retry = await attempt(2, training);
    assert.equal(retry.result.resumedFromStep, retry.result.totalSteps, 'the retry starts at the last step');
    assert.equal(retry.result.steps, first.result.steps, 'no step taken: no fresh noise drawn');
    assert.deepEqual(retry.result.spent, first.result.spent, 'the same privacy spent, accounted once');
    assert.ok(
      retry.beats.every((beat) => beat.step === 0 || beat.step === retry.result.totalSteps),
      `heartbeats show no new steps: ${JSON.stringify(retry.beats)}`,
    );
    assert.ok(first.model.equals(retry.model), 'the model bytes are unchanged');
    assert.equal(retry.stat.etag, first.stat.etag);
    assert.equal(retry.stat.lastModified.getTime(), first.stat.lastModified.getTime(), 'the model object was not rewritten');
  });
});
