// Step 1: append what is new on the topics to the lake, then the run's dataset: a content-addressed manifest of the
// lake's files of the training window (dataset/ingest.ts). Validation and features read the window from the lake,
// or take the rows this step read to count them when they run next on this worker (activities/dataset-columns.ts).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { retentionByTopic } from '../clients/kafka';
import { ingest } from '../dataset/ingest';
import { recordContract } from '../records';
import { keepColumns } from './dataset-columns';
import type { ActivityDeps } from './deps';
import { throttledHeartbeat } from './deps';

/** A run's dataset (a window of the lake) as the workflow sees it: where its manifest is and what it holds, never its rows. */
export interface DatasetRef {
  sha256: string;
  prefix: string;
  rows: number;
  labelled: number;
  frauds: number;
  firstTransaction: string | null;
  lastTransaction: string | null;
  rejected: number;
  /** Next offset per topic and partition: where the lake ends in Kafka after this step. */
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
          lake: config.ingest.lakePrefix,
          windowDays: config.ingest.windowDays,
          partitions: config.stack.kafka.partitions,
          retentionMs: retentionByTopic(config.topics, config.topicRetention),
          signal: Context.current().cancellationSignal,
          onProgress: heartbeat,
        },
      );
      const m = result.manifest;
      if (!m) {
        throw ApplicationFailure.create({
          type: 'EmptyLake',
          message: `the lake ${config.ingest.lakePrefix} holds no transaction yet: produce to ${config.topics.transactions} first`,
          nonRetryable: true,
        });
      }
      if (result.columns) keepColumns(m, result.columns);
      deps.log.info(
        {
          dataset: m.sha256,
          window: m.window,
          rows: m.rows,
          batch: result.batch?.seq ?? null,
          written: result.written,
          seconds: result.seconds,
        },
        'dataset window ready',
      );
      return {
        sha256: m.sha256,
        prefix: config.ingest.datasetPrefix,
        rows: m.rows,
        labelled: m.labelled,
        frauds: m.frauds,
        firstTransaction: m.timeRange.first,
        lastTransaction: m.timeRange.last,
        rejected: m.rejected.total,
        endOffsets: result.lakeEnd,
      };
    },
  };
}
