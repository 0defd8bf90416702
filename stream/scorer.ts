// The stream scorer: transactions in, fraud predictions out, features from the online store (serving/online-features.ts).
//
// Messages are read by the record contract (records/): a transaction or a label that breaks it is malformed. Loop:
// Kafka delivers both input topics into the intake (stream/intake.ts), which releases labels and transactions in
// the order batch features assume. Each released batch is one step:
//   1. load the touched customers and terminals (kept in memory, the scorer being their only writer; Redis for the
//      ones not seen yet), apply the labels, compute the transactions' features with the training code;
//   2. score them with the serving model (read once per step);
//   3. in ONE Kafka transaction: the prediction records, the review-queue records, a dead letter for each input
//      message without a prediction (malformed, or refused by the store: older than records.lateness allows behind
//      its card's or terminal's latest, or more than records.maxFuture ahead of the wall clock), and the input offsets;
//   4. write the new state to Redis with the input positions it now reflects (one MULTI), in flight while the next
//      step computes.
//
// Late events: a transaction older than its card's or terminal's latest by at most records.lateness is scored with
// the state as it stands, and its prediction says so (late, late_seconds).
//
// Exactly one output (a prediction or a dead letter) per input message, even across crashes: a crash before 3
// commits leaves nothing visible to a read_committed reader (the transaction is aborted when the scorer restarts with
// the same transactional id) and the batch is read again. A crash between 3 and 4 leaves the state behind the
// committed offsets: on start the scorer seeks to the state's positions and replays those messages into the state
// only, without output. So every message reaches the state once and the outputs once. (Redis SET NX markers cannot do
// this: a marker written before the send loses the prediction on a crash, one written after duplicates it.)
//
// One scorer per consumer group: the intake orders messages across all partitions, so the scorer waits for the group
// to be empty before joining, and stops (to be restarted) when a rebalance takes partitions from it.
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import {
  type Admin,
  type Consumer,
  committedOffsets,
  createTransactionalProducer,
  type EachBatchPayload,
  ensureTopics,
  type Kafka,
  type Producer,
  partitionRanges,
  retentionByTopic,
  waitForGroupIdle,
} from '../clients/kafka';
import type { Redis } from '../clients/redis';
import type { Config } from '../config';
import { encodeExtras, type FeatureSet, featureSetOf } from '../ml/feature-set';
import { FEATURE_COUNT } from '../ml/features';
import type { ReferenceStatistics } from '../ml/validation';
import type { Logger } from '../observability/log';
import { type RecordContract, recordContract, type TxRecord } from '../records';
import { inputMismatch, type ServingModel } from '../serving/champion-watcher';
import { featureInputOf, OnlineFeatureStore } from '../serving/online-features';
import { decisionOf, PredictionJsonWriter } from '../serving/prediction';
import { ConsumerProcess, describeAssignment } from './consumer-process';
import { DriftMonitor } from './drift';
import { type IntakeEntry, type IntakeWork, type MergeKey, positionKey, StreamIntake } from './intake';
import {
  deadLetter,
  type LabelValue,
  type OutputRecord,
  parseLabel,
  parseTransaction,
  type Rejection,
  ReviewMembers,
  sendChunks,
  sourceOf,
  type TransactionValue,
} from './messages';
import { createMetrics, type PartitionLag, type ScorerMetrics } from './scorer-metrics';

export interface ScorerTopics {
  transactions: string;
  labels: string;
  predictions: string;
  reviewQueue: string;
  /** Dead letters: input messages without a prediction, with the reason. */
  dlq: string;
}

export interface StreamScorerOptions {
  config: Config;
  kafka: Kafka;
  redis: Redis;
  log: Logger;
  /** The record contract the input topics follow; recordContract(config) by default. */
  contract?: RecordContract;
  /** The serving model, read once per step (ChampionWatcher.current, or a fixed model in tests). */
  model: () => ServingModel | undefined;
  /** The training statistics of a model, for the drift gauges; none by default. */
  reference?: (model: ServingModel) => Promise<ReferenceStatistics | undefined>;
  topics?: Partial<ScorerTopics>;
  /** config.stream.consumerGroup by default. */
  groupId?: string;
  /** Key prefix of the online feature store. */
  redisPrefix?: string;
  /** config.producer.labelDelayDays by default. */
  labelDelayDays?: number;
  /** config.stream.reviewBand by default. */
  reviewBand?: number;
  /** Most transactions per step (one Redis read, one Kafka transaction, one Redis write); 5000 by default. */
  maxBatch?: number;
  /** Where the metrics go; a fresh registry by default. */
  registry?: Registry;
  /**
   * Called (at most once a minute) while a feature's live PSI against the champion's training data is above
   * `severePsi` (pipeline.retrain.livePsi): the CLI starts a retraining run (temporal/retrain.ts). Errors are logged.
   */
  onSevereDrift?: (drift: { feature: string; psi: number; modelVersion: string; limit: number }) => Promise<void>;
  severePsi?: number;
}

const SEVERE_DRIFT_EVERY_MS = 60_000;

const SESSION_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BATCH = 5000;
/** Staged transactions above which Kafka delivery waits for the scorer (as long as the scorer can progress). */
const MAX_BUFFERED = 50_000;
/** Customers and terminals the scorer keeps in memory (it is their only writer); Redis is read for the others. */
const CACHED_ENTITIES = 200_000;

export class StreamScorer extends ConsumerProcess {
  readonly registry: Registry;
  readonly topics: ScorerTopics;
  readonly groupId: string;

  private readonly contract: RecordContract;
  private readonly store: OnlineFeatureStore;
  private readonly predictionWriter: PredictionJsonWriter;
  private readonly reviewMembers: ReviewMembers;
  /** The model inputs the declaration gives (the champion must take exactly these). */
  private readonly featureSet: FeatureSet;
  private readonly drift: DriftMonitor;
  private readonly metrics: ScorerMetrics;
  private readonly reviewBand: number;
  private readonly maxBatch: number;
  private readonly admin: Admin;
  private readonly producer: Producer;
  private consumer: Consumer | undefined;
  private intake: StreamIntake<TransactionValue, LabelValue> | undefined;
  private assignment: string | undefined;
  private emitFrom = new Map<string, number>();
  /** Latest high-water mark seen per partition, for the lag gauge. */
  private readonly highWatermarks = new Map<string, number>();
  private committed = new Map<string, number>();
  private wake: (() => void) | undefined;
  private stepDone: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private servingVersion: string | undefined;
  private waitingForModel = false;
  private steps = 0;
  /** The Redis write of the last committed step, still in flight while the next step computes. */
  private stateWrite: Promise<void> = Promise.resolve();
  private readonly runId = randomUUID().slice(0, 8);

  private constructor(private readonly options: StreamScorerOptions) {
    super(options.log, 'stream scorer');
    const { config } = options;
    this.topics = {
      transactions: config.topics.transactions,
      labels: config.topics.labels,
      predictions: config.topics.predictions,
      reviewQueue: config.topics.reviewQueue,
      dlq: config.topics.dlq,
      ...options.topics,
    };
    this.groupId = options.groupId ?? config.stream.consumerGroup;
    this.reviewBand = options.reviewBand ?? config.stream.reviewBand;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.registry = options.registry ?? new Registry();
    this.contract = options.contract ?? recordContract(config);
    const { declaration } = this.contract;
    this.store = new OnlineFeatureStore(options.redis, {
      labelDelayDays: options.labelDelayDays ?? config.producer.labelDelayDays,
      prefix: options.redisPrefix,
      cacheEntities: CACHED_ENTITIES,
      latenessSeconds: declaration.latenessSeconds,
      maxFutureSeconds: declaration.maxFutureSeconds,
    });
    this.featureSet = featureSetOf(declaration);
    this.predictionWriter = new PredictionJsonWriter(declaration.id, this.featureSet.names);
    this.reviewMembers = new ReviewMembers(declaration);
    this.drift = new DriftMonitor(this.registry, options.log);
    this.metrics = createMetrics(this.registry, () => this.lag());
    this.admin = options.kafka.admin();
    this.producer = createTransactionalProducer(options.kafka, `${this.groupId}.scorer`);
  }

  /** Joins the consumer group (once it is empty) and starts scoring; resolves once the partitions are assigned. */
  static start(options: StreamScorerOptions): Promise<StreamScorer> {
    return ConsumerProcess.started(new StreamScorer(options));
  }

  protected async release(): Promise<void> {
    this.wake?.();
    this.stepDone?.();
    await this.loop?.catch(() => undefined);
    await this.stateWrite.catch(() => undefined);
    await this.consumer?.disconnect().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }

  protected async connect(): Promise<void> {
    const { config, kafka, log } = this.options;
    await this.admin.connect();
    await ensureTopics(
      this.admin,
      Object.values(this.topics),
      config.stack.kafka.partitions,
      retentionByTopic(this.topics, config.topicRetention),
    );
    await waitForGroupIdle(this.admin, this.groupId, 2 * SESSION_TIMEOUT_MS + 5000);
    // Also aborts a transaction a crashed predecessor left open, so read_committed readers move on.
    await this.producer.connect();

    const consumer = kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: 1000,
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 64 * 1024 * 1024,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    await this.consume(
      consumer,
      [this.topics.transactions, this.topics.labels],
      (assignment) => this.onAssignment(assignment),
      (payload) => this.onBatch(payload),
    );
    this.loop = this.process().catch((err: Error) => this.fail(err));
    const { latenessSeconds, maxFutureSeconds } = this.contract.declaration;
    log.info(
      { group: this.groupId, topics: this.topics, labelDelayDays: this.store.labelDelayDays, latenessSeconds, maxFutureSeconds },
      'stream scorer started',
    );
  }

  /**
   * Where each partition starts: the state's own position (so nothing is counted twice or missed), predictions
   * only from the committed offset on. A later rebalance that keeps the same partitions resumes where the intake is.
   */
  private async onAssignment(memberAssignment: Record<string, number[]>): Promise<void> {
    const { log } = this.options;
    const description = describeAssignment(memberAssignment);
    if (this.intake) {
      if (description !== this.assignment)
        throw new Error(`the consumer group was rebalanced (${description}): is another scorer running?`);
      for (const [position, offset] of this.intake.positions()) this.seek(position, offset);
      return;
    }
    this.assignment = description;
    const applied = await this.store.appliedOffsets();
    const starts = new Map<string, number>();
    for (const topic of [this.topics.transactions, this.topics.labels]) {
      const committed = await committedOffsets(this.admin, this.groupId, topic);
      const ranges = await partitionRanges(this.admin, topic);
      for (const partition of memberAssignment[topic] ?? []) {
        const position = positionKey(topic, partition);
        const low = ranges.find((r) => r.partition === partition)?.low ?? 0;
        const state = applied.get(position);
        const output = committed.get(partition);
        const start = Math.max(state ?? output ?? low, low);
        if (state !== undefined && output !== undefined && state !== output) {
          const replay = state < output ? 'replaying into the state only' : 'skipping: the state already holds them';
          log.warn({ position, state, committed: output }, `the state and the committed offset differ: ${replay}`);
        }
        starts.set(position, start);
        this.emitFrom.set(position, Math.max(start, output ?? start));
        this.committed.set(position, output ?? start);
        this.seek(position, start);
      }
    }
    this.intake = new StreamIntake({ transactions: this.topics.transactions, labels: this.topics.labels }, starts);
    log.info({ starts: Object.fromEntries(starts) }, 'partitions assigned');
  }

  private seek(position: string, offset: number): void {
    const split = position.lastIndexOf(':');
    this.consumer?.seek({ topic: position.slice(0, split), partition: Number(position.slice(split + 1)), offset: String(offset) });
  }

  private async onBatch({ batch, heartbeat, isStale, isRunning }: EachBatchPayload): Promise<void> {
    const intake = this.intake;
    // A batch fetched before our seek is stale: the seek position is fetched next.
    if (!intake || isStale() || !isRunning() || !this.running) return;
    const { topic, partition } = batch;
    this.highWatermarks.set(positionKey(topic, partition), Number(batch.highWatermark));
    const emitFrom = this.emitFrom.get(positionKey(topic, partition)) ?? 0;
    if (topic === this.topics.transactions) {
      const maxKeyTime = Date.now() / 1000 + this.contract.declaration.maxFutureSeconds;
      intake.stageTransactions(
        partition,
        batch.messages.map((m) => parseTransaction(this.contract, m, emitFrom, maxKeyTime)),
      );
    } else {
      intake.stageLabels(
        partition,
        batch.messages.map((m) => parseLabel(this.contract, m, emitFrom)),
      );
    }
    intake.skipTo(topic, partition, Number(batch.lastOffset()) + 1);
    this.wake?.();
    // Backpressure, but never while the scorer waits for more input to make progress.
    while (this.running && intake.bufferedTransactions > MAX_BUFFERED && intake.hasWork()) {
      await new Promise<void>((resolve) => {
        this.stepDone = resolve;
        setTimeout(resolve, 1000);
      });
      await heartbeat();
    }
  }

  private async process(): Promise<void> {
    const intake = this.intake as StreamIntake<TransactionValue, LabelValue>;
    while (this.running) {
      const model = this.options.model();
      if (!model) {
        if (!this.waitingForModel) this.options.log.warn('no champion model yet: scoring waits for one');
        this.waitingForModel = true;
        await this.sleep(500);
        continue;
      }
      this.waitingForModel = false;
      this.noticeModel(model);
      // Labels alone can keep the scorer busy: ask for a new release target whenever transactions wait beyond it.
      if (intake.wantsTarget()) await this.requestTarget(intake);
      if (intake.hasWork()) {
        await this.step(model, intake.take(this.maxBatch));
        this.stepDone?.();
      } else {
        await this.sleep(250);
      }
    }
  }

  /** Asks for every input partition's high-water mark: once staged up to them, what was staged before is released. */
  private async requestTarget(intake: StreamIntake<TransactionValue, LabelValue>): Promise<void> {
    const key: MergeKey = intake.targetKey();
    const marks = new Map<string, number>();
    const topics = [this.topics.transactions, this.topics.labels];
    const ranges = await Promise.all(topics.map((topic) => partitionRanges(this.admin, topic)));
    ranges.forEach((partitions, t) => {
      for (const { partition, high } of partitions) marks.set(positionKey(topics[t], partition), high);
    });
    for (const [position, mark] of marks) this.highWatermarks.set(position, mark);
    intake.setTarget(key, marks);
  }

  private async step(model: ServingModel, work: IntakeWork<TransactionValue, LabelValue>): Promise<void> {
    const started = performance.now();
    const { log } = this.options;
    const stepId = `${this.runId}-${++this.steps}`;
    const valid = work.transactions.filter((e) => e.value.record);
    const records = valid.map((e) => e.value.record as TxRecord);
    const labels = work.labels.flatMap((e) => (e.value.label ? [e.value.label] : []));
    const update = await this.store.prepare(records.map(featureInputOf), labels, { skipInvalid: true });
    const featured = performance.now();

    // Score the rows that get a prediction (not the state-only replays, not the refused).
    const scored: number[] = [];
    let replayed = 0;
    valid.forEach((entry, row) => {
      if (!entry.value.emit) replayed += update.rejected.has(row) ? 0 : 1;
      else if (!update.rejected.has(row)) scored.push(row);
    });
    const set = this.featureSet;
    const width = set.names.length;
    const mismatch = inputMismatch(model, set.names);
    if (mismatch) throw new Error(mismatch);
    const matrix = new Float64Array(scored.length * width);
    const core = update.features;
    for (let k = 0; k < scored.length; k++) {
      const row = scored[k];
      // A plain copy: a subarray view per row would allocate on this hot path.
      for (let j = 0; j < FEATURE_COUNT; j++) matrix[k * width + j] = core[row * FEATURE_COUNT + j];
      if (width > FEATURE_COUNT) encodeExtras(set, (column) => records[row].extras[column], matrix, k * width);
    }
    const scores = scored.length ? model.loaded.predict(matrix, scored.length) : new Float32Array(0);
    const { threshold } = model.loaded;
    const outputs: OutputRecord[] = [];
    /** The uncertain cases: k (the scored row), |score − threshold| and the prediction's text. */
    const review: { k: number; distance: number; prediction: string }[] = [];
    let late = 0;
    scored.forEach((row, k) => {
      const record = records[row];
      const score = scores[k];
      const lateSeconds = update.late.get(row);
      if (lateSeconds !== undefined) late += 1;
      const prediction = this.predictionWriter.write(
        record.id,
        score,
        decisionOf(score, threshold),
        model.version,
        matrix,
        k * width,
        lateSeconds,
        record.time,
      );
      outputs.push({ topic: this.topics.predictions, key: record.id, value: prediction });
      const distance = Math.abs(score - threshold);
      if (distance <= this.reviewBand) review.push({ k, distance, prediction });
    });
    review.sort((a, b) => a.distance - b.distance);
    review.forEach(({ k, distance, prediction }, i) => {
      const record = records[scored[k]];
      const value = this.reviewMembers.append(prediction, { threshold, distance, rank: i + 1, step: stepId }, record);
      outputs.push({ topic: this.topics.reviewQueue, key: record.id, value });
    });

    // Every input message without a prediction gets one dead letter, in the same Kafka transaction.
    const rejections: { entry: IntakeEntry<{ emit: boolean }>; rejection: Rejection; id?: string }[] = [];
    for (const entry of [...work.labels, ...work.transactions]) {
      if (entry.value.rejected) rejections.push({ entry, rejection: entry.value.rejected });
    }
    for (const [row, reason] of update.rejected) {
      const record = records[row];
      const kind = update.rejectedBy.get(row) ?? 'input';
      rejections.push({ entry: valid[row], rejection: { kind, reason, value: this.contract.transactionMessage(record) }, id: record.id });
    }
    const letters = rejections.filter((r) => r.entry.value.emit);
    for (const { entry, rejection, id } of letters) outputs.push(deadLetter(this.topics.dlq, entry, rejection, id));

    const scoredAt = performance.now();
    await this.publish(outputs, work.positions);
    const published = performance.now();
    for (const [position, offset] of work.positions) this.committed.set(position, offset);
    // Only after the Kafka commit (the state must never be ahead of the committed offsets), in commit order; the
    // next step computes while this write is in flight.
    await this.stateWrite;
    this.stateWrite = update.commit(work.positions);
    this.stateWrite.catch((err: Error) => this.fail(err));
    const phases = {
      features: featured - started,
      score: scoredAt - featured,
      publish: published - scoredAt,
      state: performance.now() - published,
    };
    for (const [phase, ms] of Object.entries(phases)) this.metrics.phaseSeconds.observe({ phase }, ms / 1000);

    // Metrics and logs, after both commits.
    const now = Date.now();
    const m = this.metrics;
    this.drift.observe(matrix, scored.length, width);
    this.checkSevereDrift(model);
    m.stepSeconds.observe((performance.now() - started) / 1000);
    let frauds = 0;
    for (let k = 0; k < scored.length; k++) {
      if (scores[k] >= threshold) frauds += 1;
      m.endToEnd.observe((now - valid[scored[k]].value.producedAt) / 1000);
    }
    m.predictions.inc({ decision: 'fraud' }, frauds);
    m.predictions.inc({ decision: 'legit' }, scored.length - frauds);
    m.late.inc(late);
    m.review.inc(review.length);
    m.transactions.inc({ outcome: 'replayed' }, replayed);
    m.labels.inc({ outcome: 'applied' }, update.labelled);
    m.labels.inc({ outcome: 'early' }, update.early);
    for (const { rejection } of letters) m.rejected.inc({ kind: rejection.kind });
    if (letters.length) {
      const first = letters
        .slice(0, 10)
        .map(({ entry, rejection }) => ({ source: sourceOf(entry), kind: rejection.kind, reason: rejection.reason }));
      log.warn({ rejected: first, count: letters.length, dlq: this.topics.dlq }, 'messages without a prediction: dead letters sent');
    }
    log.debug({ step: stepId, scored: scored.length, late, labels: labels.length, review: review.length }, 'step committed');
  }

  private severeDriftCheckedAt = 0;

  private checkSevereDrift(model: ServingModel): void {
    const { onSevereDrift, severePsi, log } = this.options;
    const now = Date.now();
    if (!onSevereDrift || severePsi === undefined || now - this.severeDriftCheckedAt < SEVERE_DRIFT_EVERY_MS) return;
    const severe = this.drift.severe(severePsi);
    if (!severe) return;
    this.severeDriftCheckedAt = now;
    const drift = { ...severe, modelVersion: model.version, limit: severePsi };
    log.warn(drift, 'severe live drift against the champion’s training data');
    onSevereDrift(drift).catch((err: Error) => log.error({ err: err.message }, 'asking for a retraining run failed'));
  }

  /** The outputs and the input offsets in one Kafka transaction: all visible, or none. */
  private async publish(records: OutputRecord[], positions: Map<string, number>) {
    const byTopic = new Map<string, { partition: number; offset: string }[]>();
    for (const [position, offset] of positions) {
      const split = position.lastIndexOf(':');
      const topic = position.slice(0, split);
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), { partition: Number(position.slice(split + 1)), offset: String(offset) }]);
    }
    const transaction = await this.producer.transaction();
    try {
      for (const chunk of sendChunks(records)) await transaction.sendBatch({ topicMessages: chunk, acks: -1 });
      const offsets = { consumerGroupId: this.groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) };
      await retryConcurrentTransactions(() => transaction.sendOffsets(offsets));
      await transaction.commit();
    } catch (err) {
      await transaction.abort().catch(() => undefined);
      throw err;
    }
  }

  private noticeModel(model: ServingModel): void {
    if (model.version === this.servingVersion) return;
    this.servingVersion = model.version;
    const { log, reference } = this.options;
    this.metrics.modelInfo.reset();
    this.metrics.modelInfo.set({ version: model.version }, 1);
    const trainedDelay = model.loaded.features.labelDelayDays;
    if (trainedDelay !== this.store.labelDelayDays) {
      log.warn(
        { modelVersion: model.version, trainedWith: trainedDelay, online: this.store.labelDelayDays },
        'the model was trained with another label delay than the online features use',
      );
    }
    this.drift.clear();
    if (!reference) return;
    reference(model).then(
      (statistics) => {
        if (this.servingVersion === model.version) this.drift.setReference(model.version, statistics);
      },
      (err: Error) => log.warn({ modelVersion: model.version, err: err.message }, 'cannot load the reference statistics: no drift gauges'),
    );
  }

  private lag(): PartitionLag[] {
    const out: PartitionLag[] = [];
    for (const [position, committed] of this.committed) {
      const split = position.lastIndexOf(':');
      const mark = this.highWatermarks.get(position) ?? committed;
      out.push({ topic: position.slice(0, split), partition: Number(position.slice(split + 1)), lag: Math.max(0, mark - committed) });
    }
    return out;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/**
 * Retries a transactional call the coordinator refused because it is still finishing the previous transaction
 * (CONCURRENT_TRANSACTIONS, retriable by the protocol; kafkajs retries it for sends but not for sendOffsets).
 */
async function retryConcurrentTransactions<T>(call: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if ((err as { type?: string }).type !== 'CONCURRENT_TRANSACTIONS' || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt));
    }
  }
}
