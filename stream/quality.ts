// The live quality monitor (`fraudops quality-monitor`): joins `fraud-predictions` with `transaction-labels` as the
// labels mature, and computes per event day, model version and label source the quality of stream/quality-table.ts.
//
// A process of its own, not a part of the scorer: it reads other topics, its work (sorting scores for AP) is bursty
// while the scorer's loop is latency-bound, and a crash or a slow MLflow here must never delay a prediction.
//
// State: Redis (stream/quality-store.ts), each batch applied once with its input position; the monitor seeks to those
// positions when it joins its consumer group (it never commits offsets to Kafka). Every refresh it reads the champion
// alias and its offline test AP from MLflow, sets the gauges (stream/quality-metrics.ts), writes the champion's
// status to Redis, and, when quality.rollback.enabled and the champion's live AP is below its floor, rolls back to
// `previous` (clients/model-registry.ts): once per version, never back to a version it demoted; audited as version
// tags in MLflow and by the reason on the model-events message.
//
// Labels carry their source in the Kafka header `fraudops-label-source` (chargeback by default, or analyst): the
// analysts' path (the review queue) labels the cases it reviewed, whose figures are kept apart.
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  ensureTopics,
  headerText,
  type Kafka,
  type KafkaMessage,
  waitForGroupIdle,
} from '../clients/kafka';
import type { MlflowClient } from '../clients/mlflow';
import { CHAMPION, PREVIOUS, rollbackChampion, versionTag } from '../clients/model-registry';
import type { Redis } from '../clients/redis';
import type { Config } from '../config';
import type { Logger } from '../observability/log';
import { type RecordContract, recordContract } from '../records';
import { ConsumerProcess, describeAssignment } from './consumer-process';
import { readLabelMessage } from './messages';
import { createQualityMetrics, type QualityMetrics } from './quality-metrics';
import { type ChampionQuality, type LabelIn, type PredictionIn, QualityStore } from './quality-store';
import { dayOf, LABEL_SOURCES, type LabelSource, type QualityRow, qualityTable, type WindowQuality, windowQuality } from './quality-table';

/** The Kafka header that names a label's source; absent: chargeback. */
export const LABEL_SOURCE_HEADER = 'fraudops-label-source';

/** Version tags the rollback policy sets on the champion it demotes. */
export const ROLLBACK_TAGS = { at: 'quality_rollback_at', reason: 'quality_rollback_reason', to: 'quality_rollback_to' } as const;

export interface QualityTopics {
  predictions: string;
  labels: string;
  modelEvents: string;
}

export interface QualityMonitorOptions {
  config: Config;
  kafka: Kafka;
  redis: Redis;
  mlflow: MlflowClient;
  log: Logger;
  contract?: RecordContract;
  topics?: Partial<QualityTopics>;
  /** config.quality.consumerGroup by default. */
  groupId?: string;
  /** Key prefix of the state in Redis. */
  redisPrefix?: string;
  /** The registered model; config.registry.modelName by default. */
  model?: string;
  /** config.quality.rollback.enabled by default. */
  rollback?: boolean;
  /** config.quality.refreshSeconds by default. */
  refreshSeconds?: number;
  registry?: Registry;
  /** Called at each refresh that finds the champion below its floor (e.g. to start a retraining run). */
  onBreach?: (status: ChampionQuality) => void | Promise<void>;
}

const SESSION_TIMEOUT_MS = 10_000;
const SECONDS_PER_DAY = 86_400;

/** A prediction record (serving/prediction.ts) as the monitor needs it, or undefined when it is not one. */
export function readPrediction(idField: string, message: KafkaMessage): PredictionIn | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(String(message.value));
  } catch {
    return undefined;
  }
  const id = value?.[idField];
  const { score, decision, model_version: version, event_time: eventTime } = value ?? {};
  if ((typeof id !== 'string' && typeof id !== 'number') || typeof score !== 'number' || !Number.isFinite(score)) return undefined;
  if ((decision !== 'fraud' && decision !== 'legit') || typeof version !== 'string') return undefined;
  // Records written before predictions carried event_time count on the day they were scored.
  const seconds = typeof eventTime === 'number' && Number.isFinite(eventTime) ? eventTime : Number(message.timestamp) / 1000;
  return { id: String(id), version, score, flagged: decision === 'fraud', day: dayOf(seconds) };
}

/** The source a label message names in its header, or undefined for an unknown one. */
export function labelSourceOf(message: KafkaMessage): LabelSource | undefined {
  const named = headerText(message.headers, LABEL_SOURCE_HEADER) ?? 'chargeback';
  return (LABEL_SOURCES as readonly string[]).includes(named) ? (named as LabelSource) : undefined;
}

/** What one version's rows give: its table rows and its windows per source. */
interface VersionSummary {
  rows: QualityRow[];
  windows: Partial<Record<LabelSource, WindowQuality>>;
  lastDay: string;
}

export class QualityMonitor extends ConsumerProcess {
  readonly registry: Registry;
  readonly topics: QualityTopics;
  readonly groupId: string;
  readonly store: QualityStore;

  private readonly contract: RecordContract;
  private readonly metrics: QualityMetrics;
  private readonly model: string;
  private readonly rollbackEnabled: boolean;
  private readonly refreshMs: number;
  private readonly admin: Admin;
  private consumer: Consumer | undefined;
  private assignment: string | undefined;
  /** The next offset to apply per `topic:partition` (messages below it were applied, or belong to a stale fetch). */
  private readonly next = new Map<string, number>();
  /** Versions whose rows changed since the last refresh; undefined: all (at start). */
  private dirty: Set<string> | undefined;
  private readonly summaries = new Map<string, VersionSummary>();
  private readonly offline = new Map<string, number | null>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<ChampionQuality | undefined> | undefined;
  private readonly runId = randomUUID().slice(0, 8);

  private constructor(private readonly options: QualityMonitorOptions) {
    super(options.log, 'quality monitor');
    const { config } = options;
    this.topics = {
      predictions: config.topics.predictions,
      labels: config.topics.labels,
      modelEvents: config.topics.modelEvents,
      ...options.topics,
    };
    this.groupId = options.groupId ?? config.quality.consumerGroup;
    this.model = options.model ?? config.registry.modelName;
    this.rollbackEnabled = options.rollback ?? config.quality.rollback.enabled;
    this.refreshMs = (options.refreshSeconds ?? config.quality.refreshSeconds) * 1000;
    this.contract = options.contract ?? recordContract(config);
    this.registry = options.registry ?? new Registry();
    this.metrics = createQualityMetrics(this.registry);
    this.store = QualityStore.of(options.redis, config, options.redisPrefix);
    this.admin = options.kafka.admin();
  }

  /** Joins the consumer group (once it is empty), seeks to the stored positions and starts the refresh timer. */
  static start(options: QualityMonitorOptions): Promise<QualityMonitor> {
    return ConsumerProcess.started(new QualityMonitor(options));
  }

  protected async release(): Promise<void> {
    clearTimeout(this.timer);
    await this.refreshing?.catch(() => undefined);
    await this.consumer?.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }

  protected async connect(): Promise<void> {
    const { config, kafka, log } = this.options;
    await this.admin.connect();
    const inputs = [this.topics.predictions, this.topics.labels];
    await ensureTopics(this.admin, inputs, config.stack.kafka.partitions);
    await waitForGroupIdle(this.admin, this.groupId, 2 * SESSION_TIMEOUT_MS + 5000);
    const consumer = kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 200,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    await this.consume(
      consumer,
      inputs,
      (assignment) => this.onAssignment(assignment),
      (payload) => this.onBatch(payload),
    );
    this.schedule(0);
    log.info(
      { group: this.groupId, topics: this.topics, prefix: this.store.prefix, rollback: this.rollbackEnabled },
      'quality monitor started',
    );
  }

  /** Seeks every assigned partition to its stored position; a rebalance that moves partitions stops the monitor. */
  private async onAssignment(memberAssignment: Record<string, number[]>): Promise<void> {
    const description = describeAssignment(memberAssignment);
    if (this.assignment !== undefined) {
      if (description !== this.assignment)
        throw new Error(`the consumer group was rebalanced (${description}): is another quality monitor running?`);
    } else {
      this.assignment = description;
      const stored = await this.store.positions();
      for (const [topic, partitions] of Object.entries(memberAssignment)) {
        for (const partition of partitions) {
          const offset = stored.get(`${topic}:${partition}`);
          if (offset !== undefined) this.next.set(`${topic}:${partition}`, offset);
        }
      }
    }
    for (const [position, offset] of this.next) {
      const split = position.lastIndexOf(':');
      this.consumer?.seek({ topic: position.slice(0, split), partition: Number(position.slice(split + 1)), offset: String(offset) });
    }
  }

  private async onBatch({ batch, heartbeat, isRunning }: EachBatchPayload): Promise<void> {
    if (!isRunning() || !this.running) return;
    const { topic, partition } = batch;
    const key = `${topic}:${partition}`;
    const from = this.next.get(key) ?? 0;
    // A fetch issued before the seek delivers offsets already applied: skip them.
    const messages = batch.messages.filter((m) => Number(m.offset) >= from);
    if (!messages.length) return;
    const position = { key, next: Number(messages[messages.length - 1].offset) + 1 };
    const touched =
      topic === this.topics.predictions ? await this.applyPredictions(messages, position) : await this.applyLabels(messages, position);
    this.next.set(key, position.next);
    if (this.dirty) for (const version of touched) this.dirty.add(version);
    await heartbeat();
  }

  private applyPredictions(messages: KafkaMessage[], position: { key: string; next: number }): Promise<Set<string>> {
    const idField = this.contract.declaration.id;
    const predictions: PredictionIn[] = [];
    for (const message of messages) {
      const prediction = readPrediction(idField, message);
      if (prediction) predictions.push(prediction);
    }
    this.metrics.messages.inc({ kind: 'prediction', outcome: 'applied' }, predictions.length);
    this.metrics.messages.inc({ kind: 'prediction', outcome: 'rejected' }, messages.length - predictions.length);
    return this.store.applyPredictions(predictions, position);
  }

  private applyLabels(messages: KafkaMessage[], position: { key: string; next: number }): Promise<Set<string>> {
    const labels: LabelIn[] = [];
    for (const message of messages) {
      const read = readLabelMessage(this.contract, message);
      const source = labelSourceOf(message);
      if ('rejected' in read || !source) {
        this.metrics.messages.inc({ kind: 'label', outcome: 'rejected' });
        continue;
      }
      labels.push({ id: read.label.id, label: read.label.label, customer: read.label.customer, source });
      this.metrics.messages.inc({ kind: `label-${source}`, outcome: 'applied' });
    }
    return this.store.applyLabels(labels, position);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.refresh().then(
        () => this.schedule(this.refreshMs),
        (err: Error) => {
          // MLflow or Redis unreachable for a while: keep consuming, try again at the next refresh.
          this.options.log.warn({ err: err.message }, 'quality refresh failed: retrying at the next one');
          this.schedule(this.refreshMs);
        },
      );
    }, delayMs);
  }

  /** Recomputes the touched versions, sets the gauges, and applies the rollback policy; returns the champion's status. */
  refresh(): Promise<ChampionQuality | undefined> {
    // One at a time: a refresh asked for while one runs follows it.
    const refresh = (this.refreshing ?? Promise.resolve()).catch(() => undefined).then(() => this.refreshNow());
    this.refreshing = refresh;
    void refresh
      .finally(() => {
        if (this.refreshing === refresh) this.refreshing = undefined;
      })
      .catch(() => undefined);
    return refresh;
  }

  private async refreshNow(): Promise<ChampionQuality | undefined> {
    const started = performance.now();
    const { mlflow } = this.options;
    const champion = (await mlflow.getVersionByAlias(this.model, CHAMPION))?.version;
    const dirty = this.dirty;
    this.dirty = new Set();
    if (champion && !this.summaries.has(champion)) dirty?.add(champion);
    await this.summarize(dirty);
    this.setGauges(champion);
    if (!champion) return undefined;
    const status = await this.championStatus(champion);
    await this.store.setChampionStatus(status);
    if (status.breached) {
      this.options.log.warn(status, 'the champion is below its offline AP by more than quality.apMargin');
      await this.options.onBreach?.(status);
      if (this.rollbackEnabled) await this.rollBack(status);
    }
    this.metrics.refreshSeconds.set((performance.now() - started) / 1000);
    return status;
  }

  /** Reads and summarizes the given versions (all when undefined). */
  private async summarize(versions: Set<string> | undefined): Promise<void> {
    if (versions && !versions.size) return;
    const [groups, counts] = await Promise.all([this.store.groups(versions), this.store.counts(versions)]);
    const byVersion = new Map<string, typeof groups>();
    for (const group of groups) byVersion.set(group.version, [...(byVersion.get(group.version) ?? []), group]);
    for (const version of versions ?? byVersion.keys()) {
      const own = byVersion.get(version) ?? [];
      if (!own.length) {
        this.summaries.delete(version);
        continue;
      }
      const windows: VersionSummary['windows'] = {};
      for (const source of LABEL_SOURCES) {
        const window = windowQuality(own, version, source, this.options.config.quality.windowDays);
        if (window) windows[source] = window;
      }
      const rows = qualityTable(
        own,
        counts.filter((c) => c.version === version),
      );
      const lastDay =
        rows
          .map((r) => r.day)
          .sort()
          .at(-1) ?? '';
      this.summaries.set(version, { rows, windows, lastDay });
    }
  }

  /** Daily gauges for the latest quality.windowDays labelled days (versions seen in them only), window gauges alike. */
  private setGauges(champion: string | undefined): void {
    const { windowDays, minPositives } = this.options.config.quality;
    const m = this.metrics;
    const latest = [...this.summaries.values()].reduce((last, s) => (s.lastDay > last ? s.lastDay : last), '');
    const since = latest ? dayOf(Date.parse(`${latest}T00:00:00Z`) / 1000 - (windowDays - 1) * SECONDS_PER_DAY) : '';
    m.daily.reset();
    m.window.reset();
    m.champion.reset();
    if (champion) m.champion.set({ version: champion }, 1);
    for (const [version, summary] of this.summaries) {
      if (summary.lastDay < since && version !== champion) continue;
      for (const row of summary.rows) {
        if (row.day < since) continue;
        const labels = { version, day: row.day, source: row.source };
        const values: Record<string, number | null> = {
          average_precision: row.averagePrecision,
          roc_auc: row.rocAuc,
          card_precision_at_100: row.cardPrecisionAt100,
          precision: row.precision,
          recall: row.recall,
          alert_rate: row.alertRate,
          labelled: row.labelled,
          positives: row.positives,
        };
        for (const [metric, value] of Object.entries(values)) if (value !== null) m.daily.set({ ...labels, metric }, value);
      }
      for (const window of Object.values(summary.windows)) {
        const labels = { version, source: window.source };
        m.window.set({ ...labels, metric: 'labelled' }, window.labelled);
        m.window.set({ ...labels, metric: 'positives' }, window.positives);
        if (window.averagePrecision !== null && window.positives >= minPositives)
          m.window.set({ ...labels, metric: 'average_precision' }, window.averagePrecision);
      }
    }
  }

  /** The offline test AP of a version: metric average_precision of its MLflow run (null when it has none). */
  private async offlineAveragePrecision(version: string): Promise<number | null> {
    if (this.offline.has(version)) return this.offline.get(version) as number | null;
    const { mlflow } = this.options;
    const runId = (await mlflow.getModelVersion(this.model, version)).run_id;
    const metric = runId ? (await mlflow.getRun(runId)).data.metrics?.find((m) => m.key === 'average_precision') : undefined;
    const value = metric?.value ?? null;
    this.offline.set(version, value);
    return value;
  }

  private async championStatus(version: string): Promise<ChampionQuality> {
    const { apMargin, minPositives } = this.options.config.quality;
    const offline = await this.offlineAveragePrecision(version);
    const window = this.summaries.get(version)?.windows.chargeback;
    const live = window && window.positives >= minPositives ? window.averagePrecision : null;
    const floor = offline === null ? null : offline - apMargin;
    this.metrics.offline.reset();
    this.metrics.floor.reset();
    if (offline !== null && floor !== null) {
      this.metrics.offline.set({ version }, offline);
      this.metrics.floor.set({ version }, floor);
    }
    return {
      version,
      liveAveragePrecision: live,
      offlineAveragePrecision: offline,
      floor,
      positives: window?.positives ?? 0,
      from: window?.from ?? null,
      to: window?.to ?? null,
      breached: live !== null && floor !== null && live < floor,
      at: new Date().toISOString(),
    };
  }

  /**
   * Rolls the degraded champion back to `previous`: only while it is still the champion, once per version (its
   * rollback tag), never back to a version this policy demoted (a Redis mark set before the swap, then the tag).
   */
  private async rollBack(status: ChampionQuality): Promise<void> {
    const { mlflow, kafka, log } = this.options;
    const [champion, previous] = await Promise.all([
      mlflow.getVersionByAlias(this.model, CHAMPION),
      mlflow.getVersionByAlias(this.model, PREVIOUS),
    ]);
    if (champion?.version !== status.version || versionTag(champion, ROLLBACK_TAGS.at)) return;
    const demoted = `${this.store.prefix}demoted`;
    if (!previous) {
      log.warn({ version: status.version }, `rollback policy: no "${PREVIOUS}" alias to roll back to`);
      return;
    }
    if (versionTag(previous, ROLLBACK_TAGS.at) || (await this.options.redis.sismember(demoted, previous.version))) {
      log.warn(
        { version: status.version, previous: previous.version },
        'rollback policy: previous was demoted by this policy before; not restoring it',
      );
      return;
    }
    const reason =
      `quality monitor: live AP ${status.liveAveragePrecision?.toFixed(4)} on chargeback labels of ${status.from}..${status.to} ` +
      `(${status.positives} frauds) is below the offline test AP ${status.offlineAveragePrecision?.toFixed(4)} minus quality.apMargin`;
    await this.options.redis.sadd(demoted, status.version);
    const event = await rollbackChampion({ mlflow, kafka, topic: this.topics.modelEvents }, this.model, reason);
    const tags = { [ROLLBACK_TAGS.at]: event.at, [ROLLBACK_TAGS.reason]: reason, [ROLLBACK_TAGS.to]: event.champion };
    for (const [key, value] of Object.entries(tags)) await mlflow.setModelVersionTag(this.model, status.version, key, value);
    this.metrics.rollbacks.inc();
    log.warn({ from: status.version, to: event.champion, reason, monitor: this.runId }, 'rolled the champion back');
  }
}

/** The table of a store's rows (all versions), for `fraudops model quality`. */
export async function readQualityTable(store: QualityStore): Promise<QualityRow[]> {
  const [groups, counts] = await Promise.all([store.groups(), store.counts()]);
  return qualityTable(groups, counts);
}
