import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { MlflowClient, MlflowError } from '../../clients/mlflow';
import { createS3 } from '../../clients/s3';
import { loadConfig } from '../../config';

const config = loadConfig();
const mlflow = MlflowClient.fromConfig(config);

describe('mlflow (real tracking server and registry)', () => {
  it('tracks a run with params, metrics and an artifact stored in S3, and registers a version with an alias', async () => {
    const experimentName = `smoke-${randomUUID()}`;
    const experimentId = await mlflow.ensureExperiment(experimentName);
    assert.equal(await mlflow.ensureExperiment(experimentName), experimentId, 'ensureExperiment is idempotent');

    const run = await mlflow.createRun(experimentId, { runName: 'smoke', tags: { purpose: 'smoke-test' } });
    await mlflow.logBatch(run.info.run_id, {
      params: { learning_rate: 0.05, layers: '32,16' },
      metrics: { average_precision: 0.71, auc: 0.88 },
    });

    const artifact = randomBytes(200_000);
    await mlflow.uploadArtifact(run.info, 'model/bundle.bin', artifact);
    await mlflow.uploadArtifact(run.info, 'reports/summary.json', JSON.stringify({ ok: true }));
    assert.ok((await mlflow.downloadArtifact(run.info, 'model/bundle.bin')).equals(artifact));
    const listed = await mlflow.listArtifacts(run.info, 'model');
    assert.deepEqual(
      listed.map((file) => [file.path.split('/').pop(), file.file_size]),
      [['bundle.bin', artifact.length]],
    );
    await mlflow.finishRun(run.info.run_id);

    const stored = await mlflow.getRun(run.info.run_id);
    assert.equal(stored.info.status, 'FINISHED');
    assert.deepEqual(Object.fromEntries((stored.data.params ?? []).map((p) => [p.key, p.value])), {
      learning_rate: '0.05',
      layers: '32,16',
    });
    assert.equal(stored.data.metrics?.find((m) => m.key === 'average_precision')?.value, 0.71);

    // The artifact really lives in the S3 store behind the proxy.
    const s3Keys: string[] = [];
    for await (const item of createS3(config).listObjectsV2(config.stack.s3.bucket, 'mlflow/', true)) {
      if (item.name?.includes(run.info.run_id)) s3Keys.push(item.name);
    }
    assert.ok(
      s3Keys.some((key) => key.endsWith('model/bundle.bin')),
      `S3 keys: ${s3Keys.join(', ')}`,
    );

    const modelName = `smoke-model-${randomUUID()}`;
    await mlflow.ensureRegisteredModel(modelName);
    await mlflow.ensureRegisteredModel(modelName);
    const version = await mlflow.createModelVersion(modelName, `${run.info.artifact_uri}/model`, {
      runId: run.info.run_id,
      tags: { dataset: 'abc' },
    });
    assert.equal(version.version, '1');
    await mlflow.setAlias(modelName, 'champion', version.version);
    const champion = await mlflow.getVersionByAlias(modelName, 'champion');
    assert.equal(champion?.version, '1');
    assert.equal(champion?.run_id, run.info.run_id);
    assert.ok(champion?.aliases?.includes('champion'));
    assert.equal(await mlflow.getVersionByAlias(modelName, 'previous'), undefined);
    await mlflow.setModelVersionTag(modelName, '1', 'decision', 'approved');
    const tagged = await mlflow.getModelVersion(modelName, '1');
    assert.equal(tagged.tags?.find((t) => t.key === 'decision')?.value, 'approved');
  });

  it('surfaces server errors with their MLflow error code', async () => {
    await assert.rejects(mlflow.getRun('0000000000000000000000000000dead'), (err: unknown) => {
      assert.ok(err instanceof MlflowError);
      assert.equal(err.code, 'RESOURCE_DOES_NOT_EXIST');
      return true;
    });
  });
});
