// Retraining asked for by severe live drift, on the real Temporal: one run per model per period, with its reason.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { createKafka, ensureTopics } from '../../clients/kafka';
import { connectTemporal } from '../../clients/temporal';
import { loadConfig } from '../../config';
import { requestRetraining, retrainWorkflowId } from '../../temporal/retrain';

const base = loadConfig();
const name = randomUUID().slice(0, 8);
// A model, topics and queues of its own: no worker takes the run, which is terminated at the end.
const config = {
  ...base,
  topics: { ...base.topics, transactions: `retrain-test-tx-${name}`, labels: `retrain-test-labels-${name}` },
  registry: { ...base.registry, modelName: `retrain-test-${name}` },
  pipeline: { ...base.pipeline, taskQueues: { ...base.pipeline.taskQueues, workflow: `retrain-test-${name}` } },
};

describe('retraining on live drift', () => {
  const client = connectTemporal(config);
  const started: string[] = [];
  after(async () => {
    const c = await client;
    for (const id of started) await c.workflow.getHandle(id).terminate('test over');
    await c.connection.close();
    const admin = createKafka(config, 'retrain-test').admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [config.topics.transactions, config.topics.labels] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('starts one run per model and period, recording why; a second request in the period starts nothing', async () => {
    const admin = createKafka(config, 'retrain-test').admin();
    await admin.connect();
    await ensureTopics(admin, [config.topics.transactions, config.topics.labels], 1);
    await admin.disconnect();
    const c = await client;
    const at = new Date('2026-12-06T10:00:00Z');
    const reason = 'TX_AMOUNT PSI 0.812 > 0.5 against champion version 3';
    const first = await requestRetraining(c, config, { trigger: 'live-drift', reason, at });
    started.push(first.workflowId);
    assert.equal(first.started, true);
    assert.equal(first.workflowId, `drift-${config.registry.modelName}-2026-12-06`);
    const later = await requestRetraining(c, config, {
      trigger: 'quality-drop',
      reason: 'AP 0.31 < 0.52',
      at: new Date('2026-12-06T23:59:00Z'),
    });
    assert.deepEqual([later.started, later.workflowId, later.runId], [false, first.workflowId, first.runId]);
    const description = await c.workflow.getHandle(first.workflowId).describe();
    assert.deepEqual(description.memo, { trigger: 'live-drift', reason });
    // The next period is another run.
    assert.equal(
      retrainWorkflowId(config.registry.modelName, new Date('2026-12-07T00:00:01Z'), 1),
      `drift-${config.registry.modelName}-2026-12-07`,
    );
    assert.equal(
      retrainWorkflowId('m', new Date('2026-12-06T10:00:00Z'), 7),
      'drift-m-2026-12-03',
      'weekly periods from 1970-01-01 (a Thursday)',
    );
  });
});
