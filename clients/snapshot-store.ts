// Datasets in S3 at <prefix>/<sha256>/manifest.json: a window of the lake (dataset/window.ts: a manifest of the lake's
// partition files) or a whole snapshot (dataset/snapshot.ts: its files beside the manifest). Data files first,
// manifest last, so a dataset whose manifest exists is complete. The lake's files and log (dataset/lake.ts) too.
import {
  CHECKPOINT_KEY,
  checkLog,
  checkpointDue,
  LAKE_CHECKPOINT_FORMAT,
  type LakeBatch,
  type LakeCheckpoint,
  type LakeFile,
  logKey,
} from '../dataset/lake';
import {
  DATA_FILE,
  declarationMismatch,
  decodeColumns,
  MANIFEST_FILE,
  type SnapshotColumns,
  type SnapshotManifest,
  verifySnapshot,
} from '../dataset/snapshot';
import { mapLimit, readWindow, verifyLakeFile, verifyWindow, type WindowManifest } from '../dataset/window';
import { InvalidInputError } from '../ml/errors';
import type { RecordDeclaration } from '../records';
import { getObjectBuffer, listKeys, putObjectBuffer, type S3 } from './s3';

export interface SnapshotLocation {
  bucket: string;
  prefix: string;
  sha256: string;
}

export const snapshotKey = (location: SnapshotLocation, file: string) => `${location.prefix}/${location.sha256}/${file}`;

function isMissing(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket';
}

export async function objectExists(s3: S3, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.statObject(bucket, key);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/** Writes the snapshot unless its manifest is already there; returns whether anything was written. */
export async function saveSnapshot(
  s3: S3,
  location: SnapshotLocation,
  manifest: SnapshotManifest,
  files: Record<string, Uint8Array>,
): Promise<boolean> {
  if (await objectExists(s3, location.bucket, snapshotKey(location, MANIFEST_FILE))) return false;
  for (const [name, data] of Object.entries(files)) {
    await s3.putObject(
      location.bucket,
      snapshotKey(location, name),
      Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      data.byteLength,
    );
  }
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  await s3.putObject(location.bucket, snapshotKey(location, MANIFEST_FILE), body, body.length, { 'Content-Type': 'application/json' });
  return true;
}

export type DatasetManifest = SnapshotManifest | WindowManifest;

export const isWindow = (manifest: DatasetManifest): manifest is WindowManifest => manifest.format === 'fraudops-window/1';

export async function loadManifest(s3: S3, location: SnapshotLocation): Promise<DatasetManifest> {
  return JSON.parse((await getObjectBuffer(s3, location.bucket, snapshotKey(location, MANIFEST_FILE))).toString('utf8')) as DatasetManifest;
}

/** Writes a window's manifest unless it is already there; returns whether it was written. */
export async function saveWindow(s3: S3, location: SnapshotLocation, manifest: WindowManifest): Promise<boolean> {
  return saveSnapshot(s3, location, manifest as unknown as SnapshotManifest, {});
}

function refuseOther(sha256: string, taken: RecordDeclaration, declaration: RecordDeclaration | undefined): void {
  const mismatch = declaration && declarationMismatch(taken, declaration);
  if (mismatch) {
    throw new InvalidInputError(
      `snapshot ${sha256} was ingested under another records: declaration (${mismatch}); ingest again under this one`,
    );
  }
}

/**
 * Reads a dataset, verifies every file and the manifest against its id, and decodes the rows by the declaration
 * the manifest records. With `declaration` (the config's `records:`), a dataset whose rows were read by another
 * shape of record is refused, naming the key that differs.
 */
export async function loadSnapshot(
  s3: S3,
  location: SnapshotLocation,
  declaration?: RecordDeclaration,
): Promise<{ manifest: DatasetManifest; columns: SnapshotColumns }> {
  const manifest = await loadManifest(s3, location);
  if (manifest.sha256 !== location.sha256) throw new Error(`snapshot ${location.sha256}: its manifest names ${manifest.sha256}`);
  if (isWindow(manifest)) {
    verifyWindow(manifest);
    refuseOther(manifest.sha256, manifest.declaration, declaration);
    const { columns } = await readWindow(manifest.files, manifest.declaration, lakeFetcher(s3, location.bucket, manifest.lake));
    return { manifest, columns };
  }
  const files: Record<string, Uint8Array> = {};
  for (const name of Object.keys(manifest.files)) files[name] = await getObjectBuffer(s3, location.bucket, snapshotKey(location, name));
  verifySnapshot(manifest, files);
  const taken = manifest.schema.declaration;
  refuseOther(manifest.sha256, taken, declaration);
  return { manifest, columns: await decodeColumns(files[DATA_FILE], taken) };
}

export const lakeKey = (lake: string, path: string) => `${lake}/${path}`;

/** A lake file's bytes, checked against the log's sha256. */
export function lakeFetcher(s3: S3, bucket: string, lake: string): (file: LakeFile) => Promise<Uint8Array> {
  return async (file) => verifyLakeFile(file, await getObjectBuffer(s3, bucket, lakeKey(lake, file.path)), lake);
}

/** The checkpoint's entries, or none when it is missing or not one (it is only a shortcut: the log is read instead). */
async function readCheckpoint(s3: S3, bucket: string, lake: string): Promise<LakeBatch[]> {
  const key = lakeKey(lake, CHECKPOINT_KEY);
  if (!(await objectExists(s3, bucket, key))) return [];
  const checkpoint = JSON.parse((await getObjectBuffer(s3, bucket, key)).toString('utf8')) as LakeCheckpoint;
  if (checkpoint.format !== LAKE_CHECKPOINT_FORMAT || checkpoint.entries.length !== checkpoint.through + 1) return [];
  return checkLog(checkpoint.entries, lake);
}

/** The lake's log, in order (empty for a new lake): the checkpoint, then the entries written after it. */
export async function readLakeLog(s3: S3, bucket: string, lake: string): Promise<LakeBatch[]> {
  const checkpointed = await readCheckpoint(s3, bucket, lake);
  const after = checkpointed.length ? lakeKey(lake, logKey(checkpointed.length - 1)) : undefined;
  const keys = (await listKeys(s3, bucket, lakeKey(lake, '_log/'), after)).filter((key) => key.endsWith('.json'));
  const entries = await Promise.all(
    keys.map(async (key) => JSON.parse((await getObjectBuffer(s3, bucket, key)).toString('utf8')) as LakeBatch),
  );
  return checkLog([...checkpointed, ...entries], lake);
}

/**
 * Appends a batch: its files, then its log entry (the commit). An entry already there is never replaced: a batch of
 * that seq is in, and writing another would lose or repeat rows.
 */
export async function appendLakeBatch(
  s3: S3,
  bucket: string,
  lake: string,
  entry: LakeBatch,
  files: Record<string, Uint8Array>,
  onFile: (done: number, total: number) => void = () => undefined,
): Promise<void> {
  const key = lakeKey(lake, logKey(entry.seq));
  if (await objectExists(s3, bucket, key)) throw new Error(`lake ${lake}: batch ${entry.seq} was written meanwhile by another ingest`);
  const names = Object.keys(files);
  let done = 0;
  await mapLimit(names, 8, async (name) => {
    await putObjectBuffer(s3, bucket, lakeKey(lake, name), files[name]);
    onFile(++done, names.length + 1);
  });
  await putObjectBuffer(s3, bucket, key, `${JSON.stringify(entry, null, 2)}\n`, 'application/json');
  onFile(names.length + 1, names.length + 1);
}

/** Rewrites the checkpoint when `log` (every entry, the newest just appended) has reached a checkpoint's seq. */
export async function checkpointLakeLog(s3: S3, bucket: string, lake: string, log: readonly LakeBatch[]): Promise<void> {
  const through = log.length - 1;
  if (through < 0 || !checkpointDue(through)) return;
  const checkpoint: LakeCheckpoint = { format: LAKE_CHECKPOINT_FORMAT, through, entries: [...log] };
  await putObjectBuffer(s3, bucket, lakeKey(lake, CHECKPOINT_KEY), JSON.stringify(checkpoint), 'application/json');
}
