// `fraudops score-stream`: the stream scorer (stream/scorer.ts) with the registry's champion, hot-swapped, until
// SIGTERM or SIGINT. Metrics (lag, predictions, drift) on stream.metricsPort.

import type { Client } from '@temporalio/client';
import { type Command, InvalidArgumentError } from 'commander';
import { Registry } from 'prom-client';
import { createKafka } from '../clients/kafka';
import { MlflowClient } from '../clients/mlflow';
import { createRedis } from '../clients/redis';
import { createS3 } from '../clients/s3';
import { connectTemporal } from '../clients/temporal';
import { loadConfig } from '../config';
import { selectBackend } from '../ml/tensorflow';
import { createLogger, type Logger } from '../observability/log';
import { ChampionWatcher } from '../serving/champion-watcher';
import { referenceOfModel } from '../stream/drift';
import { serveMetrics } from '../stream/metrics-server';
import { type ScorerTopics, StreamScorer } from '../stream/scorer';
import { requestRetraining } from '../temporal/retrain';

interface ScoreStreamOptions {
  model?: string;
  group?: string;
  transactionsTopic?: string;
  labelsTopic?: string;
  predictionsTopic?: string;
  reviewTopic?: string;
  dlqTopic?: string;
  modelEventsTopic?: string;
  redisPrefix?: string;
  labelDelayDays?: number;
  reviewBand?: number;
  maxBatch?: number;
  metricsPort?: number;
  host?: string;
}

/** A commander parser for a number that must pass `ok`; the error names the rule. */
function numberOption(rule: string, ok: (value: number) => boolean): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || !ok(value)) throw new InvalidArgumentError(`"${text}" is not ${rule}.`);
    return value;
  };
}

/**
 * kafkajs logs as JSON lines of the scorer's logger. The transaction coordinator's "concurrent operation" refusal
 * (it is still finishing the previous transaction; the call is retried) is logged as an error by kafkajs: debug here.
 */
function kafkaLogs(log: Logger) {
  const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = { 1: 'error', 2: 'warn', 4: 'info', 5: 'debug' };
  return ({ namespace, level, log: entry }: { namespace: string; level: number; log: { message: string } & Record<string, unknown> }) => {
    const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
    const retried = typeof fields.error === 'string' && fields.error.includes('another concurrent operation on the same transaction');
    log[retried ? 'debug' : (levels[level] ?? 'info')]({ kafkajs: namespace, ...fields }, message);
  };
}

export function registerScoreStreamCommands(program: Command): void {
  program
    .command('score-stream')
    .description(
      'Score the transactions topic (records as declared under records:) with the champion model: online features from ' +
        'Redis (the training code, labels applied after their delay), predictions {<records.id>, score, decision, ' +
        'model_version, features, late?, late_seconds?} on the predictions topic, uncertain cases ranked on the review ' +
        'queue. A message without a prediction (malformed, later than records.lateness, or more than records.maxFuture ' +
        'ahead) gets a dead letter with the reason. Exactly one output per message across restarts (Kafka transactions; ' +
        'read the outputs with isolation read_committed). One scorer per consumer group. Stops on SIGTERM/SIGINT.',
    )
    .option('--model <name>', 'registered model whose champion scores (default: registry.modelName)')
    .option('--group <id>', 'consumer group (default: stream.consumerGroup)')
    .option('--transactions-topic <topic>', 'input transactions (default: topics.transactions)')
    .option('--labels-topic <topic>', 'input labels (default: topics.labels)')
    .option('--predictions-topic <topic>', 'output predictions (default: topics.predictions)')
    .option('--review-topic <topic>', 'output review queue (default: topics.reviewQueue)')
    .option('--dlq-topic <topic>', 'dead letters: input messages without a prediction, with the reason (default: topics.dlq)')
    .option('--model-events-topic <topic>', 'promotions to hot-swap on (default: topics.modelEvents)')
    .option('--redis-prefix <prefix>', 'key prefix of the online feature state (default: fraudops:features:)')
    .option(
      '--label-delay-days <days>',
      'days before a label counts in terminal risk (default: producer.labelDelayDays)',
      numberOption('a number >= 0', (v) => v >= 0),
    )
    .option(
      '--review-band <width>',
      'scores within this of the threshold go to review (default: stream.reviewBand)',
      numberOption('a number in (0, 0.5]', (v) => v > 0 && v <= 0.5),
    )
    .option(
      '--max-batch <n>',
      'most transactions per step (default: 5000)',
      numberOption('a whole number >= 1', (v) => Number.isInteger(v) && v >= 1),
    )
    .option(
      '--metrics-port <port>',
      'port of GET /metrics (default: stream.metricsPort; 0: any free port)',
      numberOption('a port number 0-65535', (v) => Number.isInteger(v) && v >= 0 && v <= 65535),
    )
    .option('--host <address>', 'address the metrics endpoint binds (default: all interfaces)')
    .action(async (options: ScoreStreamOptions) => {
      const config = loadConfig();
      const log = createLogger('score-stream');
      await selectBackend(config.tensorflow.backend, (line) => log.info(line));
      // Short retries: the transaction coordinator refuses a new transaction for a few ms after each commit.
      const kafka = createKafka(config, 'fraudops-scorer', {
        logCreator: () => kafkaLogs(log),
        retry: { initialRetryTime: 25, retries: 10 },
      });
      const redis = createRedis(config);
      const s3 = createS3(config);
      const registry = new Registry();
      const metrics = await serveMetrics(registry, options.metricsPort ?? config.stream.metricsPort, options.host);
      log.info({ port: metrics.port }, 'metrics at /metrics');

      let watcher: ChampionWatcher | undefined;
      let temporal: Client | undefined;
      let scorer: StreamScorer | undefined;
      let stopping = false;
      const stop = () => {
        log.info('stopping: finishing the step in flight');
        stopping = true;
        void scorer?.stop();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        watcher = await ChampionWatcher.start(
          { config, kafka, mlflow: MlflowClient.fromConfig(config), s3, log },
          { model: options.model, modelEventsTopic: options.modelEventsTopic },
        );
        const topics: Partial<ScorerTopics> = {
          transactions: options.transactionsTopic,
          labels: options.labelsTopic,
          predictions: options.predictionsTopic,
          reviewQueue: options.reviewTopic,
          dlq: options.dlqTopic,
        };
        const serving = watcher;
        scorer = await StreamScorer.start({
          config,
          kafka,
          redis,
          log,
          model: () => serving.current(),
          reference: (model) => referenceOfModel({ s3, bucket: config.stack.s3.bucket }, model),
          topics: Object.fromEntries(Object.entries(topics).filter(([, topic]) => topic !== undefined)),
          groupId: options.group,
          redisPrefix: options.redisPrefix,
          labelDelayDays: options.labelDelayDays,
          reviewBand: options.reviewBand,
          maxBatch: options.maxBatch,
          registry,
          ...(config.pipeline.retrain.onLiveDrift && {
            severePsi: config.pipeline.retrain.livePsi,
            onSevereDrift: async ({ feature, psi, modelVersion, limit }) => {
              temporal ??= await connectTemporal(config);
              const reason = `${feature} PSI ${psi.toFixed(3)} > ${limit} against champion version ${modelVersion}`;
              const run = await requestRetraining(temporal, config, { trigger: 'live-drift', reason });
              log.info({ ...run, reason }, run.started ? 'retraining run started' : 'retraining already started this period');
            },
          }),
        });
        if (stopping) await scorer.stop();
        await scorer.done;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await watcher?.stop();
        await temporal?.connection.close();
        await metrics.close();
        redis.disconnect();
      }
    });
}
