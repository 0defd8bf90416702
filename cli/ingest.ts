// `fraudops ingest`: one incremental ingest into the lake and the window's dataset (dataset/ingest.ts), with progress
// and a summary.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createKafka, retentionByTopic } from '../clients/kafka';
import { createS3, ensureBucket } from '../clients/s3';
import { loadConfig } from '../config';
import { type IngestProgress, type IngestStart, ingest } from '../dataset/ingest';
import { recordContract } from '../records';
import { type Progress, progressBar } from './progress';

interface IngestCliOptions {
  from: IngestStart;
  group?: string;
  prefix?: string;
  lake?: string;
  windowDays?: number;
  transactionsTopic?: string;
  labelsTopic?: string;
  dlqTopic?: string;
  stallTimeout: number;
  json?: boolean;
}

function days(value: string): number {
  const parsed = Number(value);
  if (!(Number.isInteger(parsed) && parsed >= 1 && parsed <= 3650))
    throw new InvalidArgumentError(`"${value}" is not a whole number of days in [1, 3650].`);
  return parsed;
}

function seconds(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 1 && parsed <= 3600)) throw new InvalidArgumentError(`"${value}" is not a number of seconds in [1, 3600].`);
  return parsed;
}

const PHASES: Record<IngestProgress['phase'], string> = {
  read: 'ingest read messages',
  write: 'ingest write lake files',
  dlq: 'ingest publish rejects to the DLQ',
  commit: 'ingest commit offsets',
  window: 'ingest read the window',
};

export function registerIngestCommands(program: Command): void {
  program
    .command('ingest')
    .description(
      'Append what is new on the transactions and labels topics to the lake: read from where the lake ends (a new lake: ' +
        '--from) up to the high-water marks seen at the start, read each message by the records: declaration (messages ' +
        "without fraudops' admitted header are pseudonymized as declared), and write date-partitioned Parquet to S3 " +
        '(<lake>/transactions/date=YYYY-MM-DD/ by event day, <lake>/labels/date=YYYY-MM-DD/ as labels mature, both with ' +
        'the declared column names) with a log entry per batch (<lake>/_log/: offsets per partition, files and their ' +
        'sha256). Malformed messages (invalid JSON, a declared field missing, ill-typed or out of its bounds, a ' +
        'transaction id read twice) go to the DLQ topic with the reason and the problems naming the declared fields, ' +
        'their values scrubbed, once per batch. The consumer group’s offsets are committed only once the batch is ' +
        'durable; a crash loses and repeats nothing. Then the dataset: a content-addressed manifest of the files of the ' +
        "lake's newest --window-days event days at <prefix>/<sha256>/manifest.json (what `validate --dataset` and the " +
        'pipeline read).',
    )
    .addOption(
      new Option(
        '--from <start>',
        'where a new lake starts: earliest (everything still in the topics) or committed (the consumer group’s last commit)',
      )
        .choices(['earliest', 'committed'])
        .default('earliest'),
    )
    .option('--group <id>', 'consumer group whose offsets are committed (default: ingest.consumerGroup)')
    .option('--prefix <prefix>', 'S3 key prefix of the datasets (window manifests) (default: ingest.datasetPrefix)')
    .option('--lake <prefix>', 'S3 key prefix of the lake (default: ingest.lakePrefix)')
    .option('--window-days <days>', "the dataset: the lake's newest N event days (default: ingest.windowDays)", days)
    .option('--transactions-topic <topic>', 'transactions topic (default: topics.transactions)')
    .option('--labels-topic <topic>', 'labels topic (default: topics.labels)')
    .option('--dlq-topic <topic>', 'dead-letter topic for malformed messages (default: topics.dlq)')
    .option('--stall-timeout <seconds>', 'fail when no message arrives for this long before the read is complete', seconds, 60)
    .option('--json', 'print the manifest and timings as JSON')
    .action(async (options: IngestCliOptions) => {
      const config = loadConfig();
      const s3 = createS3(config);
      await ensureBucket(config, s3);
      let current: { phase: string; bar: Progress } | undefined;
      const onProgress = ({ phase, done, total }: IngestProgress) => {
        if (current?.phase !== phase) {
          current?.bar.stop();
          current = { phase, bar: progressBar(process.stderr, PHASES[phase], total) };
        }
        current.bar.update(done);
      };
      const abort = new AbortController();
      const onSignal = () => abort.abort(new Error('interrupted: nothing was committed; run ingest again'));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const topics = {
        transactions: options.transactionsTopic ?? config.topics.transactions,
        labels: options.labelsTopic ?? config.topics.labels,
        dlq: options.dlqTopic ?? config.topics.dlq,
      };
      try {
        const result = await ingest(
          { kafka: createKafka(config, 'fraudops-ingest'), s3 },
          {
            contract: recordContract(config),
            topics,
            groupId: options.group ?? config.ingest.consumerGroup,
            from: options.from,
            bucket: config.stack.s3.bucket,
            prefix: options.prefix ?? config.ingest.datasetPrefix,
            lake: options.lake ?? config.ingest.lakePrefix,
            windowDays: options.windowDays ?? config.ingest.windowDays,
            partitions: config.stack.kafka.partitions,
            retentionMs: retentionByTopic(topics, config.topicRetention),
            stallTimeoutMs: options.stallTimeout * 1000,
            signal: abort.signal,
            onProgress,
          },
        );
        current?.bar.stop();
        const { manifest: m, location, batch } = result;
        const dataset = m && location ? `s3://${location.bucket}/${location.prefix}/${m.sha256}/` : null;
        if (options.json) {
          console.log(JSON.stringify({ dataset, ...result }, null, 2));
          return;
        }
        const lines = [
          batch
            ? `batch ${batch.seq} appended to the lake: ${batch.files.length} files, ${batch.rejects.total} rejected ` +
              `${JSON.stringify(batch.rejects.byReason)}, ${result.dlqPublished} sent to the DLQ by this run` +
              (batch.lost ? `; deleted from Kafka before any ingest read them: ${JSON.stringify(batch.lost)}` : '')
            : 'nothing new on the topics: the lake is unchanged',
        ];
        if (m && dataset) {
          lines.push(
            `dataset ${m.sha256} ${result.written ? 'written' : 'already existed (nothing written)'} at ${dataset}: ` +
              `${m.window.from} to ${m.window.to}, ${m.files.length} files`,
            `${m.rows} transactions (${m.timeRange.first ?? '-'} to ${m.timeRange.last ?? '-'} UTC), ${m.labelled} labelled ` +
              `(${(100 * m.labelCoverage).toFixed(1)} %), ${m.frauds} frauds; ${m.duplicates} repeated ids dropped`,
          );
        } else lines.push('no dataset: the lake holds no transaction yet');
        const t = result.seconds;
        lines.push(
          `read ${t.read.toFixed(1)} s, write ${t.write.toFixed(1)} s, window ${t.window.toFixed(1)} s, total ${t.total.toFixed(1)} s`,
        );
        console.log(lines.join('\n'));
      } finally {
        current?.bar.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
