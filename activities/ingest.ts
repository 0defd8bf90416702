// Step 1: a bounded, reproducible snapshot of transactions + labels from Kafka into S3 (dataset/ingest.ts).
import { Context } from '@temporalio/activity';
import { ingest } from '../dataset/ingest';
import { recordContract } from '../records';
import type { ActivityDeps } from './deps';
import { throttledHeartbeat } from './deps';

/** A dataset snapshot as the workflow sees it: where it is and what it holds, never its rows. */
export interface DatasetRef {
  sha256: string;
  prefix: string;
  rows: number;
  labelled: number;
  frauds: number;
  firstTransaction: string | null;
  lastTransaction: string | null;
  rejected: number;
  /** Next offset per topic and partition: where the snapshot ends in Kafka. */
  endOffsets: Record<string, number[]>;
}

export function createIngestActivities(deps: ActivityDeps) {
  return {
    /** `until`: end offsets per topic and partition (from the trigger), so the run's dataset is fixed by its id. */
    async ingestDataset(input: { until?: Record<string, number[]> } = {}): Promise<DatasetRef> {
      const { config } = deps;
      const heartbeat = throttledHeartbeat();
      const result = await ingest(
        { kafka: deps.kafka, s3: deps.s3 },
        {
          contract: recordContract(config),
          topics: config.topics,
          groupId: config.ingest.consumerGroup,
          from: 'earliest',
          until: input.until,
          bucket: config.stack.s3.bucket,
          prefix: config.ingest.datasetPrefix,
          partitions: config.stack.kafka.partitions,
          signal: Context.current().cancellationSignal,
          onProgress: heartbeat,
        },
      );
      const m = result.manifest;
      deps.log.info({ dataset: m.sha256, rows: m.rows, written: result.written, seconds: result.seconds }, 'dataset snapshot ready');
      const ends = (slice: typeof m.sources.transactions) => slice.partitions.map((p) => p.to);
      return {
        sha256: m.sha256,
        prefix: config.ingest.datasetPrefix,
        rows: m.rows,
        labelled: m.labelled,
        frauds: m.frauds,
        firstTransaction: m.timeRange.first,
        lastTransaction: m.timeRange.last,
        rejected: m.rejected.total,
        endOffsets: { [m.sources.transactions.topic]: ends(m.sources.transactions), [m.sources.labels.topic]: ends(m.sources.labels) },
      };
    },
  };
}
