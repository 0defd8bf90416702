// The stream scorer on the real stack (Kafka, Redis; MLflow and S3 for the restart): features equal the training
// code's batch features on in-order data and stay within a stated bound on data shuffled within records.lateness,
// the review queue holds the uncertain cases ranked, a message without a prediction gets exactly one dead letter,
// and a crash or a restart gives every transaction exactly one output without counting any transaction twice in the
// online state.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { committedOffsets, createIdempotentProducer, createKafka, ensureTopics, partitionRanges } from '../../clients/kafka';
import { MlflowClient } from '../../clients/mlflow';
import { promoteVersion, registerBundleVersion } from '../../clients/model-registry';
import { createRedis } from '../../clients/redis';
import { createS3 } from '../../clients/s3';
import { loadConfig, projectRoot } from '../../config';
import { type LoadedModel, loadBundle, type ModelBundleFiles, packBundle } from '../../ml/bundle';
import { computeFeatures, DAY_SECONDS, FEATURE_COUNT, FEATURE_NAMES, type FeatureInput, WINDOW_DAYS } from '../../ml/features';
import { buildPrivacyReport } from '../../ml/privacy';
import { selectBackend } from '../../ml/tensorflow';
import { fixedTransform, transformStep } from '../../ml/transforms';
import { formatUtc, recordContract, type TxRecord } from '../../records';
import type { ServingModel } from '../../serving/champion-watcher';
import { featureInputOf, type LabelEvent, OnlineFeatureStore } from '../../serving/online-features';
import type { PredictionRecord } from '../../serving/prediction';
import { type OutgoingMessage, publicationOrder, publish, simulate } from '../../simulator';
import type { ReviewRecord } from '../../stream/messages';
import { type ScorerTopics, StreamScorer } from '../../stream/scorer';
import { testPrivacySpent } from '../api-model';
import { type ReadMessage, readTopic } from './read-topic';

const config = loadConfig();
const contract = recordContract(config);
const declared = contract.declaration;
const LATENESS = declared.latenessSeconds;
const run = randomUUID().slice(0, 8);
const kafka = createKafka(config, `fraudops-test-stream-${run}`);
const redis = createRedis(config);
const log = pino({ level: 'warn' });
const LABEL_DELAY_DAYS = 1;
const BAND = config.stream.reviewBand;

// A small busy world: every customer uses every terminal, so terminal windows and labels matter.
const dataset = simulate({ customers: 50, terminals: 40, days: 8, radius: 50, seed: 3 });
const rows: TxRecord[] = [...dataset.records()];
const rowOf = new Map(rows.map((record, row) => [record.id, row]));
const batch = computeFeatures(
  rows.map((record) => ({ ...featureInputOf(record), fraud: record.label ?? 0 })),
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
    topics: {
      transactions: `tx-${tag}`,
      labels: `labels-${tag}`,
      predictions: `predictions-${tag}`,
      reviewQueue: `review-${tag}`,
      dlq: `dlq-${tag}`,
    },
    groupId: `scorer-${tag}`,
    redisPrefix: `test:stream:${tag}:`,
  };
  setups.push(setup);
  return setup;
}

/** The setup's topics; `transactionPartitions` for the transactions topic (the configured partitions by default). */
async function createTopics(setup: Setup, transactionPartitions = config.stack.kafka.partitions): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [setup.topics.transactions], transactionPartitions);
  await ensureTopics(admin, Object.values(setup.topics), config.stack.kafka.partitions);
  await admin.disconnect();
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
      spent: testPrivacySpent({ steps: 10 }),
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

/** Publishes transactions and their labels as `fraudops produce` does (admitted: the contract wrote them), in small sends. */
async function produce(topics: ScorerTopics, messages: Iterable<OutgoingMessage>): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await publish(
      messages,
      async (sent) => {
        const of = (stream: OutgoingMessage['stream']) =>
          sent.filter((m) => m.stream === stream).map(({ key, value }) => ({ key, value, headers: contract.admittedHeaders }));
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

/** The id of a transaction message, under its declared field. */
const messageId = (value: string): string => String(JSON.parse(value)[declared.id]);
const predictionId = (p: PredictionRecord): string => p[declared.id] as string;

interface Expected {
  kind: string;
  /** Dead letters of a record the contract read are keyed by its id; the others by their source. */
  id?: string;
}

/**
 * The messages with input that gets no prediction mixed in, each right after the transaction of row
 * `at[i] × rows`: one later than records.lateness behind its card's latest (same card: same partition, after it),
 * one more than records.maxFuture ahead, one not JSON, one without its amount, and a label that is not 0/1.
 */
function withDeadLetters(messages: OutgoingMessage[], at: [number, number, number, number, number]) {
  const out = messages.map((m) => [m]);
  const indexOf = new Map(messages.map((m, i) => [m.stream === 'transactions' ? messageId(m.value) : '', i]));
  const expected: Expected[] = [];
  const insertAfter = (row: number, message: Omit<OutgoingMessage, 'time'>) => {
    out[indexOf.get(rows[row].id) as number].push({ ...message, time: rows[row].time });
  };
  const rowAt = (fraction: number) => Math.floor(fraction * rows.length);
  const unlabelled = (record: TxRecord, id: string, time: number): TxRecord => ({
    ...record,
    id,
    time,
    timeValue: formatUtc(time),
    label: undefined,
  });
  const message = (record: TxRecord) => JSON.stringify(contract.transactionMessage(record));

  const late = rows[rowAt(at[0])];
  insertAfter(rowAt(at[0]), {
    stream: 'transactions',
    key: late.customer,
    value: message(unlabelled(late, `late-${run}`, late.time - 2 * LATENESS)),
  });
  expected.push({ kind: 'lateness', id: `late-${run}` });
  const ahead = rows[rowAt(at[1])];
  const future = Math.floor(Date.now() / 1000) + declared.maxFutureSeconds + 3600;
  insertAfter(rowAt(at[1]), { stream: 'transactions', key: ahead.customer, value: message(unlabelled(ahead, `future-${run}`, future)) });
  expected.push({ kind: 'maxFuture', id: `future-${run}` });
  insertAfter(rowAt(at[2]), { stream: 'transactions', key: 'x', value: `{"${declared.id}": "not-json-${run}",` });
  expected.push({ kind: 'malformed' });
  const { [declared.amount]: _amount, ...noAmount } = contract.transactionMessage(rows[rowAt(at[3])]);
  insertAfter(rowAt(at[3]), {
    stream: 'transactions',
    key: 'x',
    value: JSON.stringify({ ...noAmount, [declared.id]: `no-amount-${run}` }),
  });
  expected.push({ kind: 'malformed' });
  insertAfter(rowAt(at[4]), {
    stream: 'labels',
    key: 'x',
    value: JSON.stringify({ [declared.id]: rows[0].id, [declared.label]: 'maybe' }),
  });
  expected.push({ kind: 'malformed' });
  return { messages: out.flat(), expected };
}

/** Exactly the expected dead letters: kind and reason in the headers and the value, keyed by id or source. */
function assertDeadLetters(letters: ReadMessage[], expected: Expected[]): void {
  const named = (kind: string, key: string | undefined) => `${kind} ${key ?? '(source)'}`;
  assert.deepEqual(
    letters.map((l) => named(l.headers.kind, l.key.includes('/') ? undefined : l.key)).sort(),
    expected.map((e) => named(e.kind, e.id)).sort(),
  );
  for (const letter of letters) {
    const value = JSON.parse(letter.value);
    assert.equal(letter.headers.origin, 'score-stream');
    assert.equal(value.kind, letter.headers.kind);
    assert.equal(value.reason, letter.headers.reason);
    assert.equal(value.source, letter.headers.source);
    assert.match(letter.headers.reason, /\S/);
    if (letter.headers.kind === 'lateness') {
      assert.match(letter.headers.reason, /s older than its (card|terminal)'s latest transaction, more than records\.lateness/);
      assert.equal(value.value[declared.id], letter.key, 'the record as the contract writes it');
    }
    if (letter.headers.kind === 'maxFuture') assert.match(letter.headers.reason, /records\.maxFuture/);
    if (value.value === null) assert.equal(letter.headers.reason, 'the message is not JSON');
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

async function highWatermarkTotal(topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await partitionRanges(admin, topic)).reduce((sum, p) => sum + p.high, 0);
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the group committed every transactions message; fails early when `stopped` settles first. */
async function waitForCommitted(setup: Setup, stopped?: Promise<unknown>, timeoutMs = 30_000, total?: number): Promise<void> {
  const target = total ?? (await highWatermarkTotal(setup.topics.transactions));
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
    if (done >= target) return;
    if (ended) assert.fail(`${ended} after ${done} of ${target} transactions`);
    if (Date.now() > deadline) assert.fail(`${done} of ${target} transactions committed after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function readPredictions(setup: Setup): Promise<{ records: ReadMessage[]; predictions: PredictionRecord[] }> {
  const records = await readTopic(kafka, setup.topics.predictions);
  return { records, predictions: records.map((r) => JSON.parse(r.value) as PredictionRecord) };
}

/** Each prediction's features equal the batch features of its transaction. */
function assertBatchFeatures(predictions: PredictionRecord[]): void {
  for (const p of predictions) {
    const row = rowOf.get(predictionId(p));
    assert.ok(row !== undefined, `a prediction for ${predictionId(p)}, which is no transaction of the data`);
    FEATURE_NAMES.forEach((name, j) => {
      const expected = batch[row * FEATURE_COUNT + j];
      if (!(Math.abs(p.features[name] - expected) <= 1e-9)) {
        assert.fail(`transaction ${predictionId(p)}: ${name} is ${p.features[name]}, batch features say ${expected}`);
      }
    });
  }
}

function assertOnePerId(predictions: PredictionRecord[], records: ReadMessage[]): void {
  const seen = new Map<string, number>();
  for (const p of predictions) seen.set(predictionId(p), (seen.get(predictionId(p)) ?? 0) + 1);
  const repeated = [...seen].filter(([, n]) => n > 1);
  assert.deepEqual(repeated, [], 'transactions with more than one prediction');
  records.forEach((r, i) => {
    assert.equal(r.key, predictionId(predictions[i]), `records are keyed by ${declared.id}`);
    assert.equal(typeof predictions[i][declared.id], 'string', 'the id is a string');
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
    ...['--predictions-topic', setup.topics.predictions, '--review-topic', setup.topics.reviewQueue, '--dlq-topic', setup.topics.dlq],
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

/**
 * The bound on data shuffled within records.lateness. A late transaction Y (late_seconds s > 0) is recorded in its
 * card's and terminal's windows at their latest time, t_Y + s, instead of t_Y; a transaction X that is itself late is
 * computed at t_X + s_X. A window of X over entity E (card: (t − n days, t]; terminal: (t − D − n days, t − D], labels
 * read as entries cross t − D) can therefore hold other entries than in batch only where one of its edges e (taken in
 * batch time) lies in the band [t_Y, t_Y + s_Y] of an entry Y of E, or Y lies in X's band [e, e + s_X]. So each
 * window's count differs from batch by at most the number of such entries, and a window with none equals batch
 * (averages up to float summation order). Amount and calendar features never differ (they use the transaction's own time).
 */
function assertShuffledBound(predictions: PredictionRecord[]): { differing: number; windows: number } {
  const lateOf = new Map(predictions.map((p) => [predictionId(p), p.late_seconds ?? 0]));
  const entries = (role: 'customer' | 'terminal') => {
    const byEntity = new Map<string, { time: number; late: number; row: number }[]>();
    rows.forEach((r, row) => {
      const list = byEntity.get(r[role]) ?? [];
      list.push({ time: r.time, late: lateOf.get(r.id) ?? 0, row });
      byEntity.set(r[role], list);
    });
    return byEntity;
  };
  const customers = entries('customer');
  const terminals = entries('terminal');
  const delay = LABEL_DELAY_DAYS * DAY_SECONDS;
  let differing = 0;
  let windows = 0;
  for (const p of predictions) {
    const row = rowOf.get(predictionId(p)) as number;
    const record = rows[row];
    const own = p.late_seconds ?? 0;
    const value = (j: number) => p.features[FEATURE_NAMES[j]];
    const expected = (j: number) => batch[row * FEATURE_COUNT + j];
    for (let j = 0; j < 3; j++) assert.equal(value(j), expected(j), `${predictionId(p)}: ${FEATURE_NAMES[j]}`);
    WINDOW_DAYS.forEach((days, w) => {
      for (const [first, list, top] of [
        [3 + 2 * w, customers.get(record.customer) ?? [], record.time],
        [3 + 2 * WINDOW_DAYS.length + 2 * w, terminals.get(record.terminal) ?? [], record.time - delay],
      ] as const) {
        const edges = [top, top - days * DAY_SECONDS];
        const near = list.filter(
          (y) => y.row !== row && (y.late > 0 || own > 0) && edges.some((e) => y.time <= e + own && e <= y.time + y.late),
        ).length;
        const [count, other] = [first, first + 1];
        windows += 1;
        if (!near) {
          assert.equal(value(count), expected(count), `${predictionId(p)}: ${FEATURE_NAMES[count]} with no late entry at its edges`);
          assert.ok(
            Math.abs(value(other) - expected(other)) <= 1e-9,
            `${predictionId(p)}: ${FEATURE_NAMES[other]} with no late entry at its edges`,
          );
        } else {
          assert.ok(
            Math.abs(value(count) - expected(count)) <= near,
            `${predictionId(p)}: ${FEATURE_NAMES[count]} ${value(count)}, batch ${expected(count)}: more than the ${near} entries at its edges`,
          );
          if (value(count) !== expected(count) || Math.abs(value(other) - expected(other)) > 1e-9) differing += 1;
        }
      }
    });
  }
  return { differing, windows };
}

describe('stream scorer (real Kafka and Redis)', () => {
  let files: ModelBundleFiles;
  let loaded: LoadedModel;
  let model: ServingModel;
  const startScorer = (setup: Setup, maxBatch: number) =>
    StreamScorer.start({ config, kafka, redis, log, model: () => model, ...setup, labelDelayDays: LABEL_DELAY_DAYS, maxBatch });

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

  it('online store: observe and label in any batching give the batch features; peek changes nothing; late and early events', async () => {
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
          streamed.set(
            observed.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT),
            (rowOf.get(tx.transactionId) as number) * FEATURE_COUNT,
          );
        });
      }
      [txs, labels, size] = [[], [], 1 + ((size * 7919) % 61)];
    };
    for (const m of publicationOrder(rows, contract, LABEL_DELAY_DAYS)) {
      const value = JSON.parse(m.value);
      if (m.stream === 'labels') {
        const label = contract.readLabel(value, { admitted: true }).value;
        assert.ok(label);
        labels.push({ transactionId: label.id, fraud: label.label });
      } else {
        const record = contract.readTransaction(value, { labels: 'absent', admitted: true }).value;
        assert.ok(record);
        txs.push(featureInputOf(record));
      }
      if (txs.length + labels.length >= size) await flush();
    }
    await flush();
    for (let i = 0; i < streamed.length; i++) {
      if (!(Math.abs(streamed[i] - batch[i]) <= 1e-9))
        assert.fail(`row ${Math.floor(i / FEATURE_COUNT)}, feature ${FEATURE_NAMES[i % FEATURE_COUNT]}`);
    }

    const last = rows[rows.length - 1];
    const stale = {
      transactionId: `stale-${run}`,
      timestamp: last.time - 3600,
      customerId: last.customer,
      terminalId: 'a "new", terminal',
      amount: 5,
    };
    await assert.rejects(store.peek([stale]), /3600 s older than its card's latest transaction, more than records\.lateness \(0 s\)/);
    await assert.rejects(store.observe([{ ...stale, timestamp: last.time, amount: -1 }]), /amount must be >= 0/);
    const next = { ...stale, timestamp: stale.timestamp + 7200 };
    assert.deepEqual(Array.from(await store.peek([next])), Array.from(await store.peek([next])), 'peek leaves the state as it was');
    assert.equal(await store.label([{ transactionId: next.transactionId, fraud: 1 }]), 0, 'a label before its transaction waits');
    await store.observe([next]);
    assert.equal(await store.label([{ transactionId: rows[0].id, fraud: 1 }]), 0, 'an already labelled transaction');

    // With records.lateness: a transaction up to that much older than its card's latest is scored as the state stands
    // (recorded at the latest time, its calendar features its own); older, or too far ahead of the wall clock, is refused.
    const lenient = new OnlineFeatureStore(redis, {
      labelDelayDays: LABEL_DELAY_DAYS,
      prefix: setup.redisPrefix,
      latenessSeconds: LATENESS,
      maxFutureSeconds: 60,
      now: () => next.timestamp,
    });
    const late = { ...next, transactionId: `late-${run}`, timestamp: next.timestamp - LATENESS };
    const tooLate = { ...late, transactionId: `too-late-${run}`, timestamp: late.timestamp - 1 };
    const ahead = { ...next, transactionId: `ahead-${run}`, customerId: 'another card', timestamp: next.timestamp + 61 };
    const update = await lenient.prepare([late, tooLate, ahead], [], { readOnly: true, skipInvalid: true });
    assert.deepEqual([...update.late], [[0, LATENESS]]);
    assert.deepEqual(
      [...update.rejectedBy],
      [
        [1, 'lateness'],
        [2, 'maxFuture'],
      ],
    );
    const atLatest = await store.peek([{ ...late, timestamp: next.timestamp }]);
    const features = update.features.subarray(0, FEATURE_COUNT);
    for (let j = 3; j < FEATURE_COUNT; j++) assert.equal(features[j], atLatest[j], `late: ${FEATURE_NAMES[j]} as at the latest time`);
    assert.equal(features[0], 5);

    // The scorer's store keeps entities in memory: a refused batch leaves it usable and consistent with Redis.
    const cached = new OnlineFeatureStore(redis, { labelDelayDays: LABEL_DELAY_DAYS, prefix: setup.redisPrefix, cacheEntities: 1000 });
    const later = { ...next, transactionId: `later-${run}`, timestamp: next.timestamp + 60 };
    await assert.rejects(cached.observe([later, stale]), /older than its card's latest transaction/);
    const expected = await store.peek([later]);
    assert.deepEqual(Array.from(await cached.observe([later])), Array.from(expected));
  });

  it('parity: the features in the prediction records equal the batch features; the review queue holds the in-band cases, ranked', async () => {
    const setup = newSetup('parity');
    await createTopics(setup);
    // Small steps, and transactions arriving while the scorer runs: the intake must order them across partitions.
    const scorer = await startScorer(setup, 97);
    try {
      await produce(setup.topics, publicationOrder(rows, contract, LABEL_DELAY_DAYS));
      await waitForCommitted(setup, scorer.done);
      const metrics = await scorer.registry.metrics();
      assert.match(metrics, /fraudops_scorer_predictions_total\{decision="fraud"\} \d+/);
      assert.match(metrics, /fraudops_scorer_consumer_lag\{topic="tx-parity-[^"]+",partition="0"\} 0/);
      assert.match(metrics, /fraudops_scorer_late_total 0/);
    } finally {
      await scorer.stop();
    }

    const { records, predictions } = await readPredictions(setup);
    assert.equal(predictions.length, rows.length);
    assertOnePerId(predictions, records);
    assertBatchFeatures(predictions);
    const { threshold } = loaded;
    for (const p of predictions) {
      assert.equal(p.model_version, '1');
      assert.equal(p.decision, p.score >= threshold ? 'fraud' : 'legit');
      assert.equal(p.late, undefined, 'in order: nothing is late');
    }
    assert.deepEqual(await readTopic(kafka, setup.topics.dlq), [], 'no dead letters');

    const review = (await readTopic(kafka, setup.topics.reviewQueue)).map((r) => JSON.parse(r.value) as ReviewRecord);
    const inBand = predictions.filter((p) => Math.abs(p.score - threshold) <= BAND);
    assert.ok(inBand.length > 10 && inBand.length < predictions.length, `${inBand.length} of ${predictions.length} in the band`);
    assert.deepEqual(review.map(predictionId).sort(), inBand.map(predictionId).sort());
    for (const r of review) {
      const record = rows[rowOf.get(predictionId(r)) as number];
      assert.deepEqual(
        [r[declared.customer], r[declared.terminal], r[declared.amount], r[declared.time.column]],
        [record.customer, record.terminal, record.amount, record.timeValue],
        'the case names its card, terminal, amount and time under the declared fields',
      );
    }
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

  it('out of order within records.lateness: every transaction is scored, late ones marked, features within the bound of batch', async () => {
    const setup = newSetup('shuffled');
    // One partition: every swap reaches the scorer as published (the intake cannot merge it back into time order).
    await createTopics(setup, 1);
    // Neighbouring transactions (no label between them) less than the lateness apart swap places. The earlier one
    // of a pair is then late exactly when it shares its card or its terminal with the other, by their time difference.
    const messages = [...publicationOrder(rows, contract, LABEL_DELAY_DAYS)];
    const expectedLate = new Map<string, number>();
    let swaps = 0;
    for (let i = 0; i + 1 < messages.length; i++) {
      const [a, b] = [messages[i], messages[i + 1]];
      if (a.stream !== 'transactions' || b.stream !== 'transactions' || !(b.time > a.time && b.time - a.time < LATENESS)) continue;
      [messages[i], messages[i + 1]] = [b, a];
      swaps += 1;
      const [ra, rb] = [rows[rowOf.get(messageId(a.value)) as number], rows[rowOf.get(messageId(b.value)) as number]];
      if (ra.customer === rb.customer || ra.terminal === rb.terminal) expectedLate.set(ra.id, rb.time - ra.time);
      i += 1;
    }
    assert.ok(swaps > 50 && expectedLate.size > 3, `${swaps} swaps, ${expectedLate.size} of them sharing a card or a terminal`);
    const scorer = await startScorer(setup, 37);
    let metrics = '';
    try {
      await produce(setup.topics, messages);
      await waitForCommitted(setup, scorer.done);
      metrics = await scorer.registry.metrics();
    } finally {
      await scorer.stop();
    }

    const { records, predictions } = await readPredictions(setup);
    assert.equal(predictions.length, rows.length, 'none refused: each is at most one swap behind');
    assertOnePerId(predictions, records);
    assert.deepEqual(await readTopic(kafka, setup.topics.dlq), [], 'no dead letters');
    const marked = new Map(predictions.filter((p) => p.late).map((p) => [predictionId(p), p.late_seconds]));
    assert.deepEqual([...marked].sort(), [...expectedLate].sort(), 'late, by how much');
    assert.match(metrics, new RegExp(`fraudops_scorer_late_total ${marked.size}\\b`));
    const { differing, windows } = assertShuffledBound(predictions);
    assert.ok(differing > 0 && differing < windows / 20, `${differing} of ${windows} windows differ from batch`);
  });

  it('dead letters: a transaction later than records.lateness, one too far ahead, and malformed messages get one each, no prediction', async () => {
    const setup = newSetup('dlq');
    await createTopics(setup);
    const { messages, expected } = withDeadLetters([...publicationOrder(rows, contract, LABEL_DELAY_DAYS)], [0.3, 0.5, 0.6, 0.7, 0.9]);
    await produce(setup.topics, messages);
    const scorer = await startScorer(setup, 200);
    let metrics = '';
    try {
      await waitForCommitted(setup, scorer.done);
      metrics = await scorer.registry.metrics();
    } finally {
      await scorer.stop();
    }
    const { records, predictions } = await readPredictions(setup);
    assertOnePerId(predictions, records);
    assert.equal(predictions.length, rows.length, 'a prediction for each transaction of the data, none for the others');
    assertBatchFeatures(predictions);
    assertDeadLetters(await readTopic(kafka, setup.topics.dlq), expected);
    assert.match(metrics, /fraudops_scorer_rejected_total\{kind="malformed"\} 3/);
    assert.match(metrics, /fraudops_scorer_rejected_total\{kind="lateness"\} 1/);
    assert.match(metrics, /fraudops_scorer_rejected_total\{kind="maxFuture"\} 1/);
  });

  it('recovery: a crash between the Kafka commit and the state write replays the missing messages into the state only', async () => {
    const setup = newSetup('recovery');
    await createTopics(setup);
    const admin = kafka.admin();
    await admin.connect();
    const messages = [...publicationOrder(rows, contract, LABEL_DELAY_DAYS)];
    const cut = rows[Math.floor(rows.length * 0.4)].id;
    const firstPart = messages.findIndex((m) => m.stream === 'transactions' && messageId(m.value) === cut);
    await produce(setup.topics, messages.slice(0, firstPart));
    const first = await startScorer(setup, 200);
    await waitForCommitted(setup, first.done).finally(() => first.stop());
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

    const second = await startScorer(setup, 200);
    await waitForCommitted(setup, second.done).finally(() => second.stop());

    const inputs = await readTopic(kafka, setup.topics.transactions);
    const notPredicted = new Set(
      inputs
        .filter((r) => {
          const [from, to] = skipped.get(r.partition) ?? [0, 0];
          return r.offset >= from && r.offset < to;
        })
        .map((r) => messageId(r.value)),
    );
    assert.ok(notPredicted.size > 60, `${notPredicted.size} transactions only replayed into the state`);
    const { records, predictions } = await readPredictions(setup);
    assertOnePerId(predictions, records);
    assert.deepEqual(
      predictions.map(predictionId).filter((id) => notPredicted.has(id)),
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

  it('restart: `fraudops score-stream` killed mid-stream and started again gives every message exactly one output', async () => {
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
    // Dead letters before and after the kill, too.
    const { messages, expected } = withDeadLetters([...publicationOrder(rows, contract, LABEL_DELAY_DAYS)], [0.1, 0.2, 0.5, 0.8, 0.9]);
    await produce(setup.topics, messages);

    // Steps of 25 transactions: the kill lands among many Kafka transactions and state writes.
    const first = scorerChild(setup, modelName, modelEventsTopic, 25);
    await first.started;
    while ((await highWatermarkTotal(setup.topics.predictions)) < rows.length * 0.3) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const inputs = await highWatermarkTotal(setup.topics.transactions);
    const beforeRestart = await committedTransactions(setup);
    assert.ok(beforeRestart < inputs, `killed mid-stream (${beforeRestart} of ${inputs} committed)`);

    const second = scorerChild(setup, modelName, modelEventsTopic, 500);
    try {
      await second.started;
      const exited = new Promise((_, reject) =>
        second.child.once('exit', (code) => reject(new Error(`exit ${code}:\n${second.output.join('')}`))),
      );
      await waitForCommitted(setup, exited, 45_000, inputs);
    } finally {
      second.child.kill('SIGTERM');
      const code = await new Promise((resolve) =>
        second.child.exitCode !== null ? resolve(second.child.exitCode) : second.child.once('exit', resolve),
      );
      assert.equal(code, 0, second.output.join(''));
    }

    const { records, predictions } = await readPredictions(setup);
    assertOnePerId(predictions, records);
    assert.equal(predictions.length, rows.length);
    assert.ok(predictions.every((p) => p.model_version === registered.version));
    assertBatchFeatures(predictions);
    assertDeadLetters(await readTopic(kafka, setup.topics.dlq), expected);
  });
});
