// A run's dataset as columns, read from S3 at most once per worker for the steps that follow each other: validation
// that passed keeps what it read, the features step of the same dataset takes it (a dataset is content-addressed, so the same
// id is the same rows). One dataset at a time, dropped when taken, so a worker never holds two windows for long.
import { loadSnapshot } from '../clients/snapshot-store';
import type { SnapshotColumns } from '../dataset/snapshot';
import type { RecordDeclaration } from '../records';
import type { ActivityDeps } from './deps';
import type { DatasetRef } from './ingest';

let kept: { sha256: string; columns: SnapshotColumns } | undefined;

/** The dataset's columns: the ones kept for it (then no longer kept), else read and verified from S3. */
export async function datasetColumns(
  deps: ActivityDeps,
  dataset: Pick<DatasetRef, 'sha256' | 'prefix'>,
  declaration: RecordDeclaration,
): Promise<SnapshotColumns> {
  const hit = kept?.sha256 === dataset.sha256 ? kept.columns : undefined;
  kept = undefined;
  if (hit) return hit;
  const location = { bucket: deps.config.stack.s3.bucket, prefix: dataset.prefix, sha256: dataset.sha256 };
  return (await loadSnapshot(deps.s3, location, declaration)).columns;
}

/** Holds a dataset's columns for the next step that reads it (only a step that succeeded keeps them). */
export function keepColumns(dataset: Pick<DatasetRef, 'sha256'>, columns: SnapshotColumns): void {
  kept = { sha256: dataset.sha256, columns };
}
