// `fraudops ingest`: one bounded ingest (dataset/ingest.ts) from the CLI, with progress and a summary.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createKafka } from '../clients/kafka';
import { createS3, ensureBucket } from '../clients/s3';
import { loadConfig } from '../config';
import { type IngestProgress, type IngestStart, ingest } from '../dataset/ingest';
import { recordContract } from '../records';
import { type Progress, progressBar } from './progress';

interface IngestCliOptions {
  from: IngestStart;
  group?: string;
  prefix?: string;
  transactionsTopic?: string;
  labelsTopic?: string;
  dlqTopic?: string;
  stallTimeout: number;
  json?: boolean;
}

function seconds(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 1 && parsed <= 3600)) throw new InvalidArgumentError(`"${value}" is not a number of seconds in [1, 3600].`);
  return parsed;
}

const PHASES: Record<IngestProgress['phase'], string> = {
  read: 'ingest read messages',
  write: 'ingest write snapshot',
  dlq: 'ingest publish rejects to the DLQ',
  commit: 'ingest commit offsets',
};

export function registerIngestCommands(program: Command): void {
  program
    .command('ingest')
    .description(
      'Read the transactions and labels topics up to the high-water marks seen at the start (bounded and reproducible), ' +
        "read each message by the records: declaration (messages without fraudops' admitted header are pseudonymized as " +
        'declared), join each label to its transaction, and write a content-addressed snapshot to S3 at <prefix>/<sha256>/ ' +
        '(transactions.parquet with the declared column names, rejects.ndjson, manifest.json with the declaration, the ' +
        'offsets per partition, row count, label coverage, schema hash and time range). Malformed messages (invalid JSON, ' +
        'a declared field missing, ill-typed or out of its bounds, a transaction id read twice) go to the DLQ topic with ' +
        'the reason and the problems naming the declared fields, their values scrubbed (no dropped column, pseudonyms for ' +
        "the declared roles), and are counted in the manifest. The consumer group's offsets are committed only once the " +
        'snapshot is durable; the same offsets give the same sha256 and write nothing new.',
    )
    .addOption(
      new Option('--from <start>', 'earliest: everything still in the topics; committed: from the consumer group’s last commit')
        .choices(['earliest', 'committed'])
        .default('earliest'),
    )
    .option('--group <id>', 'consumer group whose offsets are committed (default: ingest.consumerGroup)')
    .option('--prefix <prefix>', 'S3 key prefix of snapshots (default: ingest.datasetPrefix)')
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
      try {
        const result = await ingest(
          { kafka: createKafka(config, 'fraudops-ingest'), s3 },
          {
            contract: recordContract(config),
            topics: {
              transactions: options.transactionsTopic ?? config.topics.transactions,
              labels: options.labelsTopic ?? config.topics.labels,
              dlq: options.dlqTopic ?? config.topics.dlq,
            },
            groupId: options.group ?? config.ingest.consumerGroup,
            from: options.from,
            bucket: config.stack.s3.bucket,
            prefix: options.prefix ?? config.ingest.datasetPrefix,
            partitions: config.stack.kafka.partitions,
            stallTimeoutMs: options.stallTimeout * 1000,
            signal: abort.signal,
            onProgress,
          },
        );
        current?.bar.stop();
        const { manifest: m, location } = result;
        if (options.json) {
          console.log(JSON.stringify({ snapshot: `s3://${location.bucket}/${location.prefix}/${m.sha256}/`, ...result }, null, 2));
          return;
        }
        console.log(
          [
            `snapshot ${m.sha256} ${result.written ? 'written' : 'already existed (nothing written)'} at s3://${location.bucket}/${location.prefix}/${m.sha256}/`,
            `${m.rows} transactions (${m.timeRange.first ?? '-'} to ${m.timeRange.last ?? '-'} UTC), ${m.labelled} labelled ` +
              `(${(100 * m.labelCoverage).toFixed(1)} %), ${m.frauds} frauds`,
            `${m.rejected.total} rejected ${JSON.stringify(m.rejected.byReason)}, ${result.dlqPublished} sent to the DLQ by this run; ` +
              `${m.orphanLabels} labels without their transaction`,
            `read ${result.seconds.read.toFixed(1)} s, write ${result.seconds.write.toFixed(1)} s, total ${result.seconds.total.toFixed(1)} s`,
          ].join('\n'),
        );
      } finally {
        current?.bar.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
