// Live model quality on the real stack (Kafka, Redis, MLflow, Prometheus): a champion degraded on purpose (its
// labels flipped in a test topic) drives its live AP below its offline AP minus quality.apMargin; with the rollback
// policy off nothing changes, after a restart with it on the champion is rolled back once, audited in MLflow and on
// model-events; the state survives the restart with nothing counted twice.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createKafka, ensureTopics, type OutgoingRecord, publishRecords } from '../../clients/kafka';
import { MlflowClient } from '../../clients/mlflow';
import { CHAMPION, type ModelEvent, PREVIOUS, versionTag } from '../../clients/model-registry';
import { createRedis } from '../../clients/redis';
import { loadConfig, projectRoot } from '../../config';
import { FEATURE_COUNT } from '../../ml/features';
import { createLogger } from '../../observability/log';
import { recordContract } from '../../records';
import { PredictionJsonWriter } from '../../serving/prediction';
import { LABEL_SOURCE_HEADER, QualityMonitor, ROLLBACK_TAGS, readQualityTable } from '../../stream/quality';
import type { QualityRow } from '../../stream/quality-table';
import { readTopic } from './read-topic';

const base = loadConfig();
const config = { ...base, quality: { ...base.quality, refreshSeconds: 3600 } }; // refreshed by the test
const contract = recordContract(config);
const kafka = createKafka(config, 'fraudops-test-quality');
const redis = createRedis(config);
const mlflow = MlflowClient.fromConfig(config);
const run = randomUUID().slice(0, 8);
const topics = { predictions: `quality-${run}-predictions`, labels: `quality-${run}-labels`, modelEvents: `quality-${run}-model-events` };
const model = `quality-test-${run}`;
const redisPrefix = `fraudops:quality-test:${run}:`;
const log = createLogger('quality-test');
log.level = 'error';

/** A small deterministic generator (test data, not privacy noise). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

// Version 1 scored day 1 and version 2 (the champion) days 2 and 3; 300 transactions a day over 200 cards, 20 % fraud.
// Both rank well; version 2's labels are flipped on the topic. Version 2's run records offline AP 0.95.
const DAYS = ['2026-03-01', '2026-03-02', '2026-03-03'];
const PER_DAY = 300;
const random = lcg(7);
const transactions = DAYS.flatMap((day, d) =>
  Array.from({ length: PER_DAY }, (_, i) => {
    const fraud = random() < 0.2 ? 1 : 0;
    const score = fraud ? 0.55 + 0.45 * random() : 0.6 * random();
    return {
      id: String(d * PER_DAY + i + 1),
      customer: String(1 + Math.floor(random() * 200)),
      time: Date.parse(`${day}T00:00:00Z`) / 1000 + i * 200,
      version: d === 0 ? '1' : '2',
      score,
      fraud: fraud as 0 | 1,
      published: (d === 0 ? fraud : 1 - fraud) as 0 | 1,
    };
  }),
);
const THRESHOLD = 0.5;
// Analysts reviewed 30 of version 2's flagged cases (and labelled them truly): counted apart from the chargebacks.
const reviewed = transactions.filter((t) => t.version === '2' && t.score >= THRESHOLD).slice(0, 30);

function predictionRecords(): OutgoingRecord[] {
  const writer = new PredictionJsonWriter(contract.declaration.id);
  const features = new Float64Array(FEATURE_COUNT);
  return transactions.map((t) => ({
    key: t.id,
    value: writer.write(t.id, t.score, t.score >= THRESHOLD ? 'fraud' : 'legit', t.version, features, 0, undefined, t.time),
  }));
}

function labelRecord(t: (typeof transactions)[number], label: 0 | 1, source?: string): OutgoingRecord {
  const record = { id: t.id, time: t.time, timeValue: t.time, customer: t.customer, terminal: '1', amount: 1, label, extras: {} };
  return {
    key: t.customer,
    value: JSON.stringify(contract.labelMessage(record)),
    headers: source ? { [LABEL_SOURCE_HEADER]: source } : undefined,
  };
}

const alias = async (name: string) => (await mlflow.getVersionByAlias(model, name))?.version;

async function startMonitor(rollback: boolean): Promise<QualityMonitor> {
  return QualityMonitor.start({ config, kafka, redis, mlflow, log, topics, model, redisPrefix, rollback, groupId: `quality-${run}` });
}

/** Refreshes until every published label is joined (chargebacks and reviews), then returns the table. */
async function joined(monitor: QualityMonitor): Promise<QualityRow[]> {
  const expected = transactions.length + reviewed.length;
  const deadline = Date.now() + 20_000;
  for (;;) {
    await monitor.refresh();
    const table = await readQualityTable(monitor.store);
    const labelled = table.reduce((sum, row) => sum + row.labelled, 0);
    if (labelled >= expected || Date.now() > deadline) return table;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function gauge(monitor: QualityMonitor, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await monitor.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = (metric?.values ?? []).find((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l));
  return value?.value;
}

describe('live model quality (real Kafka, Redis, MLflow)', { timeout: 120_000 }, () => {
  let monitor: QualityMonitor | undefined;

  before(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, Object.values(topics), 3);
    await admin.disconnect();
    const experiment = await mlflow.ensureExperiment(`quality-test-${run}`);
    for (const ap of [0.9, 0.95]) {
      const r = await mlflow.createRun(experiment);
      await mlflow.logBatch(r.info.run_id, { metrics: { average_precision: ap } });
      await mlflow.ensureRegisteredModel(model);
      await mlflow.createModelVersion(model, `${r.info.artifact_uri}/model`, { runId: r.info.run_id });
    }
    await mlflow.setAlias(model, CHAMPION, '2');
    await mlflow.setAlias(model, PREVIOUS, '1');
    // Half the chargebacks arrive before their prediction is read (a lagging monitor), half after.
    const half = transactions.filter((_, i) => i % 2 === 0);
    await publishRecords(
      kafka,
      topics.labels,
      half.map((t) => labelRecord(t, t.published)),
    );
    await publishRecords(kafka, topics.predictions, predictionRecords());
    await publishRecords(kafka, topics.labels, [
      ...transactions.filter((_, i) => i % 2 === 1).map((t) => labelRecord(t, t.published)),
      ...reviewed.map((t) => labelRecord(t, t.fraud, 'analyst')),
    ]);
  });

  after(async () => {
    await monitor?.stop();
    const keys = await redis.keys(`${redisPrefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin.disconnect();
  });

  it('joins predictions and labels per day, version and source; the degraded champion falls below its floor, no rollback when off', async () => {
    monitor = await startMonitor(false);
    const table = await joined(monitor);
    const row = (day: string, source = 'chargeback') => table.find((r) => r.day === day && r.source === source);
    assert.deepEqual(
      table.map((r) => [r.day, r.version, r.source, r.labelled]),
      [
        [DAYS[0], '1', 'chargeback', PER_DAY],
        [DAYS[1], '2', 'analyst', reviewed.length],
        [DAYS[1], '2', 'chargeback', PER_DAY],
        [DAYS[2], '2', 'chargeback', PER_DAY],
      ],
    );
    assert.ok((row(DAYS[0])?.averagePrecision ?? 0) > 0.95, 'version 1, true labels: high AP');
    assert.ok((row(DAYS[1])?.averagePrecision ?? 1) < 0.8, 'version 2, flipped labels: low AP');
    const confirmed = reviewed.filter((t) => t.fraud).length;
    assert.equal(row(DAYS[1], 'analyst')?.precision, confirmed / reviewed.length, 'frauds among the reviewed flagged cases');
    const day1 = transactions.filter((t) => t.version === '1');
    const alerts = day1.filter((t) => t.score >= THRESHOLD).length;
    assert.equal(row(DAYS[0])?.alertRate, alerts / PER_DAY);
    assert.equal(row(DAYS[0])?.recall, day1.filter((t) => t.fraud && t.score >= THRESHOLD).length / day1.filter((t) => t.fraud).length);
    assert.ok(row(DAYS[0])?.cardPrecisionAt100 !== null && (row(DAYS[0])?.rocAuc ?? 0) > 0.95);

    const status = await monitor.refresh();
    assert.ok(status?.breached, JSON.stringify(status));
    const live = await gauge(monitor, 'fraudops_quality_window', { version: '2', source: 'chargeback', metric: 'average_precision' });
    const floor = await gauge(monitor, 'fraudops_quality_average_precision_floor', { version: '2' });
    assert.ok(live !== undefined && floor !== undefined && live < floor, `live ${live}, floor ${floor}`);
    assert.equal(floor, 0.95 - config.quality.apMargin);
    assert.equal(await alias(CHAMPION), '2', 'rollback is off');
  });

  it('keeps its state across a restart (duplicates counted once), then rolls back once when the policy is on', async () => {
    await monitor?.stop();
    // A producer's retry: some chargebacks delivered again.
    await publishRecords(
      kafka,
      topics.labels,
      transactions.slice(0, 50).map((t) => labelRecord(t, t.published)),
    );
    monitor = await startMonitor(true);
    const table = await joined(monitor);
    assert.equal(
      table.reduce((sum, r) => sum + r.labelled, 0),
      transactions.length + reviewed.length,
    );
    assert.equal(
      table.find((r) => r.day === DAYS[0])?.alertRate,
      transactions.filter((t) => t.version === '1' && t.score >= THRESHOLD).length / PER_DAY,
    );
    await monitor.refresh();
    assert.deepEqual([await alias(CHAMPION), await alias(PREVIOUS)], ['1', '2']);
    const demoted = await mlflow.getModelVersion(model, '2');
    assert.match(versionTag(demoted, ROLLBACK_TAGS.reason) ?? '', /live AP 0\.\d+ .* below the offline test AP 0\.9500/);
    assert.equal(versionTag(demoted, ROLLBACK_TAGS.to), '1');
    await monitor.refresh();
    const events = (await readTopic(kafka, topics.modelEvents)).map((m) => JSON.parse(m.value) as ModelEvent);
    assert.deepEqual(
      events.map((e) => [e.type, e.champion, e.previous]),
      [['rolled-back', '1', '2']],
    );
    assert.match(events[0].reason ?? '', /^quality monitor: live AP/);
    assert.equal(await alias(CHAMPION), '1', 'no second rollback');
  });

  it('prints the table with `fraudops model quality --json`', () => {
    const cli = spawnSync(
      process.execPath,
      [path.join(projectRoot(), 'bin', 'fraudops.cjs'), 'model', 'quality', '--json', '--redis-prefix', redisPrefix],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(cli.status, 0, cli.stderr);
    const { champion, rows } = JSON.parse(cli.stdout);
    assert.equal(rows.length, 4);
    assert.equal(champion.version, '1');
  });

  it('has the quality alert loaded by the local Prometheus', async () => {
    const url = `http://${config.stack.host}:${config.stack.prometheus.port}/api/v1/rules`;
    const body = (await (await fetch(url)).json()) as { data: { groups: Array<{ rules: Array<{ name: string }> }> } };
    assert.ok(body.data.groups.flatMap((g) => g.rules.map((r) => r.name)).includes('ChampionLiveQualityLow'));
  });
});
