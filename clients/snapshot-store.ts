// Dataset snapshots in S3 at <prefix>/<sha256>/: data files first, manifest.json last, so a snapshot whose
// manifest exists is complete; a crash mid-write leaves files that the next run overwrites with equal bytes.
import {
  DATA_FILE,
  declarationMismatch,
  decodeColumns,
  MANIFEST_FILE,
  type SnapshotColumns,
  type SnapshotManifest,
  verifySnapshot,
} from '../dataset/snapshot';
import { InvalidInputError } from '../ml/errors';
import type { RecordDeclaration } from '../records';
import { getObjectBuffer, type S3 } from './s3';

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

export async function loadManifest(s3: S3, location: SnapshotLocation): Promise<SnapshotManifest> {
  return JSON.parse(
    (await getObjectBuffer(s3, location.bucket, snapshotKey(location, MANIFEST_FILE))).toString('utf8'),
  ) as SnapshotManifest;
}

/**
 * Reads a snapshot, verifies every file and the manifest against its id, and decodes the rows by the declaration
 * the manifest records. With `declaration` (the config's `records:`), a snapshot whose rows were read by another
 * shape of record is refused, naming the key that differs.
 */
export async function loadSnapshot(
  s3: S3,
  location: SnapshotLocation,
  declaration?: RecordDeclaration,
): Promise<{ manifest: SnapshotManifest; columns: SnapshotColumns }> {
  const manifest = await loadManifest(s3, location);
  if (manifest.sha256 !== location.sha256) throw new Error(`snapshot ${location.sha256}: its manifest names ${manifest.sha256}`);
  const files: Record<string, Uint8Array> = {};
  for (const name of Object.keys(manifest.files)) files[name] = await getObjectBuffer(s3, location.bucket, snapshotKey(location, name));
  verifySnapshot(manifest, files);
  const taken = manifest.schema.declaration;
  const mismatch = declaration && declarationMismatch(taken, declaration);
  if (mismatch) {
    throw new InvalidInputError(
      `snapshot ${manifest.sha256} was ingested under another records: declaration (${mismatch}); ingest again under this one`,
    );
  }
  return { manifest, columns: await decodeColumns(files[DATA_FILE], taken) };
}
