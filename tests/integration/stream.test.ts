// The stream scorer on the real stack (Kafka, Redis; MLflow and S3 for the restart): features equal the training
// code's batch features, the review queue holds the uncertain cases ranked, and a crash or a restart gives every
// transaction exactly one prediction without counting any transaction twice in the online state.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { ServingModel } from '../../clients/champion-watcher';
import { committedOffsets, createIdempotentProducer, createKafka, ensureTopics, partitionRanges } from '../../clients/kafka';
import { MlflowClient } from '../../clients/mlflow';
import { promoteVersion, registerBundleVersion } from '../../clients/model-registry';
import { createRedis } from '../../clients/redis';
import { createS3 } from '../../clients/s3';
import { loadConfig, projectRoot } from '../../config';
import { type LoadedModel, loadBundle, type ModelBundleFiles, packBundle } from '../../ml/bundle';
import { computeFeatures, FEATURE_COUNT, FEATURE_NAMES, type FeatureInput } from '../../ml/features';
import { buildPrivacyReport } from '../../ml/privacy';
import { selectBackend } from '../../ml/tensorflow';
import { fixedTransform, transformStep } from '../../ml/transforms';
import {
  featureInputOf,
  type OutgoingMessage,
  parseTxDatetime,
  publicationOrder,
  publish,
  simulate,
  type Transaction,
} from '../../simulator';
import type { PredictionRecord, ReviewRecord } from '../../stream/messages';
import { type LabelEvent, OnlineFeatureStore } from '../../stream/online-features';
import { type ScorerTopics, StreamScorer } from '../../stream/scorer';
import { type ReadMessage, readTopic } from './read-topic';

const config = loadConfig();
const run = randomUUID().slice(0, 8);
const kafka = createKafka(config, `fraudops-test-stream-${run}`);
const redis = createRedis(config);
const log = pino({ level: 'warn' });
const LABEL_DELAY_DAYS = 1;
const BAND = config.stream.reviewBand;

// A small busy world: every customer uses every terminal, so terminal windows and labels matter.
const dataset = simulate({ customers: 50, terminals: 40, days: 8, radius: 50, seed: 3 });
const rows: Transaction[] = Array.from({ length: dataset.size }, (_, i) => dataset.transaction(i));
const batch = computeFeatures(
  rows.map((tx) => ({ ...featureInputOf(tx), fraud: tx.TX_FRAUD })),
  LABEL_DELAY_DAYS,
);

interface Setup {
  topics: ScorerTopics;
  groupId: string;
  redisPrefix: string;
}
const setups: Setup[] = [];

function newSetup(name: string): Setup {
  const tag = `${name}-${run}`;
  const setup = {
    topics: { transactions: `tx-${tag}`, labels: `labels-${tag}`, predictions: `predictions-${tag}`, reviewQueue: `review-${tag}` },
    groupId: `scorer-${tag}`,
    redisPrefix: `test:stream:${tag}:`,
  };
  setups.push(setup);
  return setup;
}

/** A deterministic MLP whose threshold is the median score on these rows: about half of them fall in the review band. */
async function testBundle(): Promise<ModelBundleFiles> {
  const transform = fixedTransform();
  const parts = (threshold: number) => ({
    model: {
      inputs: FEATURE_COUNT,
      hidden: [4],
      layers: [
        {
          weights: Float32Array.from({ length: FEATURE_COUNT * 4 }, (_, i) => Math.sin(i + 1) * 0.6),
          bias: Float32Array.of(0.1, -0.1, 0.2, 0),
        },
        { weights: Float32Array.of(0.8, -0.6, 0.5, 0.3), bias: Float32Array.of(-0.2) },
      ],
    },
    transform,
    labelDelayDays: LABEL_DELAY_DAYS,
    threshold,
    metrics: {},
    privacy: buildPrivacyReport({
      spent: { epsilon: 1, delta: 1e-6, noiseMultiplier: 1.1, samplingRate: 0.01, steps: 10, clipNorm: 1, accountant: 'rdp' },
      records: rows.length,
      preprocessing: [transformStep(transform)],
      threshold: { value: threshold, split: 'validation' },
    }),
    createdAt: '2026-01-01T00:00:00.000Z',
  });
  const probe = await loadBundle(await packBundle(parts(0.5)));
  const scores = Array.from(probe.predict(batch, rows.length)).sort((a, b) => a - b);
  probe.dispose();
  return packBundle(parts(Number(scores[Math.floor(scores.length / 2)].toFixed(6))));
}

/** Publishes transactions and their labels (LABEL_DELAY_DAYS later) as `fraudops produce` does, in small sends. */
async function produce(topics: ScorerTopics, messages: Iterable<OutgoingMessage>): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await publish(
      messages,
      async (sent) => {
        const of = (stream: OutgoingMessage['stream']) => sent.filter((m) => m.stream === stream).map(({ key, value }) => ({ key, value }));
        const topicMessages = [
          { topic: topics.transactions, messages: of('transactions') },
          { topic: topics.labels, messages: of('labels') },
        ].filter((t) => t.messages.length);
        await producer.sendBatch({ topicMessages, acks: -1 });
      },
      { batchSize: 40 },
    );
  } finally {
    await producer.disconnect();
  }
}

async function committedTransactions(setup: Setup): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return [...(await committedOffsets(admin, setup.groupId, setup.topics.transactions)).values()].reduce((a, b) => a + b, 0);
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the group committed `total` transactions; fails early when `stopped` settles first. */
async function waitForCommitted(setup: Setup, total: number, stopped?: Promise<unknown>, timeoutMs = 30_000): Promise<void> {
  let ended: string | undefined;
  stopped?.then(
    () => {
      ended = 'the scorer stopped';
    },
    (err: Error) => {
      ended = `the scorer failed: ${err.message}`;
    },
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = await committedTransactions(setup);
    if (done >= total) return;
    if (ended) assert.fail(`${ended} after ${done} of ${total} transactions`);
    if (Date.now() > deadline) assert.fail(`${done} of ${total} transactions committed after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Each prediction's features equal the batch features of its transaction. */
function assertBatchFeatures(predictions: PredictionRecord[]): void {
  for (const p of predictions) {
    FEATURE_NAMES.forEach((name, j) => {
      const expected = batch[p.TRANSACTION_ID * FEATURE_COUNT + j];
      if (!(Math.abs(p.features[name] - expected) <= 1e-9)) {
        assert.fail(`transaction ${p.TRANSACTION_ID}: ${name} is ${p.features[name]}, batch features say ${expected}`);
      }
    });
  }
}

function assertOnePerId(predictions: PredictionRecord[], records: ReadMessage[]): void {
  const seen = new Map<number, number>();
  for (const p of predictions) seen.set(p.TRANSACTION_ID, (seen.get(p.TRANSACTION_ID) ?? 0) + 1);
  const repeated = [...seen].filter(([, n]) => n > 1);
  assert.deepEqual(repeated, [], 'transactions with more than one prediction');
  records.forEach((r, i) => {
    assert.equal(r.key, String(predictions[i].TRANSACTION_ID), 'records are keyed by TRANSACTION_ID');
  });
}

function scorerChild(
  setup: Setup,
  model: string,
  modelEventsTopic: string,
  maxBatch: number,
): { child: ChildProcess; output: string[]; started: Promise<void> } {
  const args = [
    'score-stream',
    ...['--model', model, '--model-events-topic', modelEventsTopic, '--group', setup.groupId, '--redis-prefix', setup.redisPrefix],
    ...['--transactions-topic', setup.topics.transactions, '--labels-topic', setup.topics.labels],
    ...['--predictions-topic', setup.topics.predictions, '--review-topic', setup.topics.reviewQueue],
    ...['--label-delay-days', String(LABEL_DELAY_DAYS), '--max-batch', String(maxBatch), '--metrics-port', '0'],
  ];
  const child = spawn(process.execPath, [path.join(projectRoot(), 'bin', 'fraudops.cjs'), ...args], {
    cwd: projectRoot(),
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', KAFKAJS_NO_PARTITIONER_WARNING: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const started = new Promise<void>((resolve, reject) => {
    const onData = (data: Buffer) => {
      output.push(String(data));
      if (String(data).includes('stream scorer started')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (data: Buffer) => output.push(String(data)));
    child.once('exit', (code, signal) => reject(new Error(`score-stream exited (${code ?? signal}) before starting:\n${output.join('')}`)));
  });
  started.catch(() => undefined);
  return { child, output, started };
}

async function highWatermarkTotal(topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await partitionRanges(admin, topic)).reduce((sum, p) => sum + p.high, 0);
  } finally {
    await admin.disconnect();
  }
}

describe('stream scorer (real Kafka and Redis)', () => {
  let files: ModelBundleFiles;
  let loaded: LoadedModel;
  let model: ServingModel;

  before(async () => {
    await selectBackend('tensorflow', () => undefined);
    files = await testBundle();
    loaded = await loadBundle(files);
    model = {
      version: '1',
      loaded,
      modelVersion: { name: 'test', version: '1' } as ServingModel['modelVersion'],
      loadedAt: new Date().toISOString(),
    };
    assert.ok(
      batch.some((v, i) => i % FEATURE_COUNT === 10 && v > 0),
      'some terminal risk is non-zero: the labels matter',
    );
  });

  after(async () => {
    loaded?.dispose();
    const admin = kafka.admin();
    await admin.connect();
    const topics = setups.flatMap((s) => Object.values(s.topics));
    await admin.deleteTopics({ topics: [...topics, `model-events-${run}`] }).catch(() => undefined);
    await admin.deleteGroups(setups.map((s) => s.groupId)).catch(() => undefined);
    await admin.disconnect();
    for (const { redisPrefix } of setups) {
      const keys = await redis.keys(`${redisPrefix}*`);
      if (keys.length) await redis.del(...keys);
    }
    redis.disconnect();
  });

  it('online store: observe and label in any batching give the batch features; peek changes nothing; out-of-order is refused', async () => {
    const setup = newSetup('store');
    const store = new OnlineFeatureStore(redis, { labelDelayDays: LABEL_DELAY_DAYS, prefix: setup.redisPrefix });
    const streamed = new Float64Array(rows.length * FEATURE_COUNT);
    let txs: FeatureInput[] = [];
    let labels: LabelEvent[] = [];
    let size = 1;
    const flush = async () => {
      // Labels first in each batch, as the scorer applies them: one of a transaction in the same batch waits for it.
      if (labels.length) await store.label(labels);
      if (txs.length) {
        const peeked = await store.peek(txs);
        const observed = await store.observe(txs);
        assert.deepEqual(Array.from(peeked), Array.from(observed), 'peek gives what observe then records');
        txs.forEach((tx, i) => {
          streamed.set(observed.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT), tx.transactionId * FEATURE_COUNT);
        });
      }
      [txs, labels, size] = [[], [], 1 + ((size * 7919) % 61)];
    };
    for (const m of publicationOrder(rows, LABEL_DELAY_DAYS)) {
      const value = JSON.parse(m.value);
      if (m.stream === 'labels') labels.push({ transactionId: value.TRANSACTION_ID, fraud: value.TX_FRAUD });
      else txs.push(featureInputOf(value));
      if (txs.length + labels.length >= size) await flush();
    }
    await flush();
    for (let i = 0; i < streamed.length; i++) {
      if (!(Math.abs(streamed[i] - batch[i]) <= 1e-9))
        assert.fail(`row ${Math.floor(i / FEATURE_COUNT)}, feature ${FEATURE_NAMES[i % FEATURE_COUNT]}`);
    }

    const last = rows[rows.length - 1];
    const late = {
      transactionId: 10 ** 9,
      timestamp: parseTxDatetime(last.TX_DATETIME) - 3600,
      customerId: last.CUSTOMER_ID,
      terminalId: 0,
      amount: 5,
    };
    await assert.rejects(store.peek([late]), /earlier than its customer's latest transaction/);
    await assert.rejects(store.observe([{ ...late, amount: -1 }]), /amount must be >= 0/);
    const next = { ...late, timestamp: late.timestamp + 7200 };
    assert.deepEqual(Array.from(await store.peek([next])), Array.from(await store.peek([next])), 'peek leaves the state as it was');
    assert.equal(await store.label([{ transactionId: next.transactionId, fraud: 1 }]), 0, 'a label before its transaction waits');
    await store.observe([next]);
    assert.equal(await store.label([{ transactionId: rows[0].TRANSACTION_ID, fraud: 1 }]), 0, 'an already labelled transaction');

    // The scorer's store keeps entities in memory: a refused batch leaves it usable and consistent with Redis.
    const cached = new OnlineFeatureStore(redis, { labelDelayDays: LABEL_DELAY_DAYS, prefix: setup.redisPrefix, cacheEntities: 1000 });
    const later = { ...next, transactionId: next.transactionId + 1, timestamp: next.timestamp + 60 };
    await assert.rejects(cached.observe([later, late]), /earlier than its customer's latest transaction/);
    const expected = await store.peek([later]);
    assert.deepEqual(Array.from(await cached.observe([later])), Array.from(expected));
  });

  it('parity: the features in the prediction records equal the batch features; the review queue holds the in-band cases, ranked', async () => {
    const setup = newSetup('parity');
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, Object.values(setup.topics), config.stack.kafka.partitions);
    await admin.disconnect();
    // Small steps, and transactions arriving while the scorer runs: the intake must order them across partitions.
    const scorer = await StreamScorer.start({
      config,
      kafka,
      redis,
      log,
      model: () => model,
      ...setup,
      labelDelayDays: LABEL_DELAY_DAYS,
      maxBatch: 97,
    });
    try {
      await produce(setup.topics, publicationOrder(rows, LABEL_DELAY_DAYS));
      await waitForCommitted(setup, rows.length, scorer.done);
      const metrics = await scorer.registry.metrics();
      assert.match(metrics, /fraudops_scorer_predictions_total\{decision="fraud"\} \d+/);
      assert.match(metrics, /fraudops_scorer_consumer_lag\{topic="tx-parity-[^"]+",partition="0"\} 0/);
    } finally {
      await scorer.stop();
    }

    const records = await readTopic(kafka, setup.topics.predictions);
    const predictions = records.map((r) => JSON.parse(r.value) as PredictionRecord);
    assert.equal(predictions.length, rows.length);
    assertOnePerId(predictions, records);
    assertBatchFeatures(predictions);
    const { threshold } = loaded;
    for (const p of predictions) {
      assert.equal(p.model_version, '1');
      assert.equal(p.decision, p.score >= threshold ? 'fraud' : 'legit');
    }

    const review = (await readTopic(kafka, setup.topics.reviewQueue)).map((r) => JSON.parse(r.value) as ReviewRecord);
    const inBand = predictions.filter((p) => Math.abs(p.score - threshold) <= BAND);
    assert.ok(inBand.length > 10 && inBand.length < predictions.length, `${inBand.length} of ${predictions.length} in the band`);
    assert.deepEqual(
      review.map((r) => r.TRANSACTION_ID).sort((a, b) => a - b),
      inBand.map((p) => p.TRANSACTION_ID).sort((a, b) => a - b),
    );
    const steps = new Map<string, ReviewRecord[]>();
    for (const r of review) steps.set(r.step, [...(steps.get(r.step) ?? []), r]);
    for (const cases of steps.values()) {
      const ranked = [...cases].sort((a, b) => a.rank - b.rank);
      assert.deepEqual(
        ranked.map((r) => r.rank),
        ranked.map((_, i) => i + 1),
      );
      for (let i = 1; i < ranked.length; i++)
        assert.ok(ranked[i].distance >= ranked[i - 1].distance, 'ranked by closeness to the threshold');
      for (const r of ranked) assert.ok(Math.abs(r.distance - Math.abs(r.score - threshold)) < 1e-12 && r.distance <= BAND);
    }
    assert.ok(steps.size > 1, 'several steps fed the review queue');
  });

  it('recovery: a crash between the Kafka commit and the state write replays the missing messages into the state only', async () => {
    const setup = newSetup('recovery');
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, Object.values(setup.topics), config.stack.kafka.partitions);
    const messages = [...publicationOrder(rows, LABEL_DELAY_DAYS)];
    const firstPart = messages.findIndex(
      (m) => m.stream === 'transactions' && JSON.parse(m.value).TRANSACTION_ID === Math.floor(rows.length * 0.4),
    );
    await produce(setup.topics, messages.slice(0, firstPart));
    const firstCount = messages.slice(0, firstPart).filter((m) => m.stream === 'transactions').length;
    const options = { config, kafka, redis, log, model: () => model, ...setup, labelDelayDays: LABEL_DELAY_DAYS, maxBatch: 200 };
    const first = await StreamScorer.start(options);
    await waitForCommitted(setup, firstCount, first.done).finally(() => first.stop());
    await produce(setup.topics, messages.slice(firstPart));

    // The crash: outputs and offsets committed in Kafka up to C, the state written up to A < C. Made here as the
    // scorer commits: the group's offsets moved ahead of the state in a Kafka transaction.
    const store = new OnlineFeatureStore(redis, { labelDelayDays: LABEL_DELAY_DAYS, prefix: setup.redisPrefix });
    const applied = await store.appliedOffsets();
    const skipped = new Map<number, [number, number]>();
    const ahead = await Promise.all(
      [setup.topics.transactions, setup.topics.labels].map(async (topic) => {
        const partitions = (await partitionRanges(admin, topic)).map(({ partition, high }) => {
          const state = applied.get(`${topic}:${partition}`) ?? 0;
          const offset = Math.min(high, state + 60);
          if (topic === setup.topics.transactions) skipped.set(partition, [state, offset]);
          return { partition, offset: String(offset) };
        });
        return { topic, partitions };
      }),
    );
    await admin.disconnect();
    const crashed = kafka.producer({ transactionalId: `crashed-${setup.groupId}`, idempotent: true, maxInFlightRequests: 1 });
    await crashed.connect();
    const transaction = await crashed.transaction();
    await transaction.sendOffsets({ consumerGroupId: setup.groupId, topics: ahead });
    await transaction.commit();
    await crashed.disconnect();

    const second = await StreamScorer.start(options);
    await waitForCommitted(setup, rows.length, second.done).finally(() => second.stop());

    const inputs = await readTopic(kafka, setup.topics.transactions);
    const notPredicted = new Set(
      inputs
        .filter((r) => {
          const [from, to] = skipped.get(r.partition) ?? [0, 0];
          return r.offset >= from && r.offset < to;
        })
        .map((r) => JSON.parse(r.value).TRANSACTION_ID as number),
    );
    assert.ok(notPredicted.size > 60, `${notPredicted.size} transactions only replayed into the state`);
    const records = await readTopic(kafka, setup.topics.predictions);
    const predictions = records.map((r) => JSON.parse(r.value) as PredictionRecord);
    assertOnePerId(predictions, records);
    assert.deepEqual(
      predictions.map((p) => p.TRANSACTION_ID).filter((id) => notPredicted.has(id)),
      [],
      'no prediction for what the "crashed" run had committed',
    );
    assert.equal(predictions.length, rows.length - notPredicted.size);
    // Without the replay the windows would miss those transactions; counted twice they would hold them twice.
    assertBatchFeatures(predictions);
    const after = await store.appliedOffsets();
    const admin2 = kafka.admin();
    await admin2.connect();
    const committed = await committedOffsets(admin2, setup.groupId, setup.topics.transactions);
    await admin2.disconnect();
    for (const [partition, offset] of committed) assert.equal(after.get(`${setup.topics.transactions}:${partition}`), offset);
  });

  it('restart: `fraudops score-stream` killed mid-stream and started again gives every transaction exactly one prediction', async () => {
    const setup = newSetup('restart');
    const modelEventsTopic = `model-events-${run}`;
    const modelName = `test-fraud-detector-${run}`;
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [...Object.values(setup.topics), modelEventsTopic], config.stack.kafka.partitions);
    await admin.disconnect();
    const mlflow = MlflowClient.fromConfig(config);
    const registered = await registerBundleVersion({ mlflow, s3: createS3(config), bucket: config.stack.s3.bucket }, modelName, files);
    await promoteVersion({ mlflow, kafka, topic: modelEventsTopic }, modelName, registered.version);
    await produce(setup.topics, publicationOrder(rows, LABEL_DELAY_DAYS));

    // Steps of 25 transactions: the kill lands among many Kafka transactions and state writes.
    const first = scorerChild(setup, modelName, modelEventsTopic, 25);
    await first.started;
    while ((await highWatermarkTotal(setup.topics.predictions)) < rows.length * 0.3) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const beforeRestart = await committedTransactions(setup);
    assert.ok(beforeRestart < rows.length, `killed mid-stream (${beforeRestart} of ${rows.length} committed)`);

    const second = scorerChild(setup, modelName, modelEventsTopic, 500);
    try {
      await second.started;
      const exited = new Promise((_, reject) =>
        second.child.once('exit', (code) => reject(new Error(`exit ${code}:\n${second.output.join('')}`))),
      );
      await waitForCommitted(setup, rows.length, exited, 45_000);
    } finally {
      second.child.kill('SIGTERM');
      const code = await new Promise((resolve) =>
        second.child.exitCode !== null ? resolve(second.child.exitCode) : second.child.once('exit', resolve),
      );
      assert.equal(code, 0, second.output.join(''));
    }

    const records = await readTopic(kafka, setup.topics.predictions);
    const predictions = records.map((r) => JSON.parse(r.value) as PredictionRecord);
    assertOnePerId(predictions, records);
    assert.equal(predictions.length, rows.length);
    assert.ok(predictions.every((p) => p.model_version === registered.version));
    assertBatchFeatures(predictions);
  });
});
