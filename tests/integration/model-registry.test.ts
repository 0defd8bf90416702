// Promotion and rollback on the real MLflow registry, announced on a real Kafka topic.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createKafka, ensureTopics } from '../../clients/kafka';
import { MlflowClient } from '../../clients/mlflow';
import { CHAMPION, type ModelEvent, PREVIOUS, promoteVersion, rollbackChampion } from '../../clients/model-registry';
import { loadConfig, projectRoot } from '../../config';
import { readTopic } from './read-topic';

const config = loadConfig();
const kafka = createKafka(config, 'fraudops-test-registry');
const mlflow = MlflowClient.fromConfig(config);
const run = randomUUID().slice(0, 8);
const topic = `model-events-${run}`;
const model = `test-fraud-detector-${run}`;
const deps = { mlflow, kafka, topic };

async function events(): Promise<ModelEvent[]> {
  return (await readTopic(kafka, topic)).map((m) => JSON.parse(m.value));
}

const alias = async (name: string) => (await mlflow.getVersionByAlias(model, name))?.version;

describe('model registry: promote and roll back (real MLflow + Kafka)', () => {
  before(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [topic], 1);
    await admin.disconnect();
    await mlflow.ensureRegisteredModel(model);
    const experiment = await mlflow.ensureExperiment(`registry-test-${run}`);
    for (let i = 0; i < 2; i++) {
      const r = await mlflow.createRun(experiment);
      await mlflow.createModelVersion(model, `${r.info.artifact_uri}/model`, { runId: r.info.run_id });
    }
  });
  after(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('refuses a rollback with nothing to roll back to', async () => {
    await assert.rejects(rollbackChampion(deps, model), /has no "previous" alias/);
  });

  it('the CLI explains its commands and prints a refused rollback without a stack trace', () => {
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [path.join(projectRoot(), 'bin', 'fraudops.cjs'), 'model', ...args], { encoding: 'utf8' });
    const help = cli(['--help']).stdout;
    for (const command of ['status', 'promote <version>', 'rollback']) assert.ok(help.includes(command), command);
    const status = JSON.parse(cli(['status', '--json']).stdout);
    assert.equal(status.model, config.registry.modelName);
    // Only when the configured model has nothing to roll back to (a fresh stack) is a refusal expected.
    if (status.previous === null) {
      const rollback = cli(['rollback']);
      assert.equal(rollback.status, 1);
      assert.match(rollback.stderr, /^fraudops: model \S+ has no "previous" alias/);
      assert.doesNotMatch(rollback.stderr, /at rollbackChampion/);
    }
  });

  it('promotes, keeps the old champion as previous, and does nothing when promoting the champion again', async () => {
    const first = await promoteVersion(deps, model, '1');
    assert.deepEqual([first?.champion, first?.previous], ['1', null]);
    const second = await promoteVersion(deps, model, '2');
    assert.deepEqual([second?.champion, second?.previous], ['2', '1']);
    assert.equal(await promoteVersion(deps, model, '2'), null);
    assert.deepEqual([await alias(CHAMPION), await alias(PREVIOUS)], ['2', '1']);
    await assert.rejects(promoteVersion(deps, model, '9'), /MLflow/);
  });

  it('rolls back to the previous champion and announces every change once', async () => {
    const event = await rollbackChampion(deps, model);
    assert.deepEqual([event.type, event.champion, event.previous], ['rolled-back', '1', '2']);
    assert.deepEqual([await alias(CHAMPION), await alias(PREVIOUS)], ['1', '2']);
    const announced = await events();
    assert.deepEqual(
      announced.map((e) => [e.type, e.champion, e.previous]),
      [
        ['promoted', '1', null],
        ['promoted', '2', '1'],
        ['rolled-back', '1', '2'],
      ],
    );
    assert.ok(announced.every((e) => e.model === model));
  });
});
