// `fraudops quality-monitor`: the live quality monitor (stream/quality.ts) until SIGTERM or SIGINT; its gauges on
// quality.metricsPort. `make up` starts it beside the scorer (stack/apps.ts).
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { createKafka } from '../clients/kafka';
import { MlflowClient } from '../clients/mlflow';
import { createRedis } from '../clients/redis';
import { connectTemporal } from '../clients/temporal';
import { loadConfig } from '../config';
import { createLogger } from '../observability/log';
import { serveMetrics } from '../stream/metrics-server';
import { QualityMonitor } from '../stream/quality';
import { requestRetraining } from '../temporal/retrain';
import { numberIn } from './files';

interface QualityMonitorOptions {
  group?: string;
  predictionsTopic?: string;
  labelsTopic?: string;
  redisPrefix?: string;
  rollback?: boolean;
  metricsPort?: number;
  host?: string;
}

export function registerQualityMonitorCommands(program: Command): void {
  program
    .command('quality-monitor')
    .description(
      'Join the predictions topic with the labels topic as labels mature and compute, per event day, model version and ' +
        'label source (header fraudops-label-source: chargeback, the default, or analyst), AP, ROC AUC, card precision@100, ' +
        'precision and recall at the threshold and the alert rate; gauges on quality.metricsPort, state in Redis (exactly ' +
        'once across restarts). With quality.rollback.enabled, a champion whose live AP falls below its offline test AP ' +
        'minus quality.apMargin is rolled back to `previous`. One monitor per consumer group. Stops on SIGTERM/SIGINT.',
    )
    .option('--group <id>', 'consumer group (default: quality.consumerGroup)')
    .option('--predictions-topic <topic>', 'input predictions (default: topics.predictions)')
    .option('--labels-topic <topic>', 'input labels (default: topics.labels)')
    .option('--redis-prefix <prefix>', 'key prefix of the state (default: fraudops:quality:)')
    .option('--rollback', 'roll a degraded champion back (default: quality.rollback.enabled)')
    .option('--metrics-port <port>', 'port of GET /metrics (default: quality.metricsPort; 0: any free port)', numberIn(0, 65535, true))
    .option('--host <address>', 'address the metrics endpoint binds (default: all interfaces)')
    .action(async (options: QualityMonitorOptions) => {
      const config = loadConfig();
      const log = createLogger('quality-monitor');
      const redis = createRedis(config);
      const registry = new Registry();
      const metrics = await serveMetrics(registry, options.metricsPort ?? config.quality.metricsPort, options.host);
      log.info({ port: metrics.port }, 'metrics at /metrics');
      let monitor: QualityMonitor | undefined;
      let temporal: Client | undefined;
      let stopping = false;
      const stop = () => {
        stopping = true;
        void monitor?.stop();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        monitor = await QualityMonitor.start({
          config,
          kafka: createKafka(config, 'fraudops-quality'),
          redis,
          mlflow: MlflowClient.fromConfig(config),
          log,
          topics: Object.fromEntries(
            Object.entries({ predictions: options.predictionsTopic, labels: options.labelsTopic }).filter(
              ([, topic]) => topic !== undefined,
            ),
          ),
          groupId: options.group,
          redisPrefix: options.redisPrefix,
          rollback: options.rollback,
          registry,
          ...(config.pipeline.retrain.onQualityDrop && {
            onBreach: async (status) => {
              temporal ??= await connectTemporal(config);
              const reason =
                `champion version ${status.version}: live AP ${status.liveAveragePrecision?.toFixed(3)} < floor ${status.floor?.toFixed(3)} ` +
                `(offline AP ${status.offlineAveragePrecision?.toFixed(3)} − quality.apMargin), ${status.positives} frauds ${status.from} to ${status.to}`;
              const run = await requestRetraining(temporal, config, { trigger: 'quality-drop', reason }).catch((err: Error) => {
                log.error({ err: err.message }, 'asking for a retraining run failed');
                return undefined;
              });
              if (run) log.info({ ...run, reason }, run.started ? 'retraining run started' : 'retraining already started this period');
            },
          }),
        });
        if (stopping) await monitor.stop();
        await monitor.done;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await metrics.close();
        await temporal?.connection.close();
        redis.disconnect();
      }
    });
}
