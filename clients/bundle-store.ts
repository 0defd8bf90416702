// Model bundles (ml/bundle.ts) on disk and in S3. manifest.json is written last, so a bundle whose writing stopped
// half-way is never verifiable; every load verifies before it returns. A location holding files of another kind is
// refused rather than mixed or cleaned: the only files replaced are names of the bundle being written.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BUNDLE_FILES, BundleIntegrityError, type BundleManifest, type ModelBundleFiles, verifyBundle } from '../ml/bundle';
import { InvalidInputError } from '../ml/errors';
import { getObjectBuffer, listKeys, type S3 } from './s3';

const TMP_SUFFIX = '.fraudops-tmp';

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
  '.png': 'image/png',
};
const contentType = (name: string): string => CONTENT_TYPES[path.posix.extname(name)] ?? 'application/octet-stream';

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array): boolean => a !== undefined && Buffer.from(a).equals(Buffer.from(b));

/** Refuses a location that holds something other than files of this bundle (a crashed earlier write of it is fine). */
function checkNoStrangers(existing: Iterable<string>, files: ReadonlyMap<string, Uint8Array>, where: string): void {
  for (const name of existing) {
    if (!files.has(name)) {
      throw new InvalidInputError(`${where} holds ${name}, which is not part of this bundle: write the bundle to an empty location`);
    }
  }
}

/** Relative POSIX paths of the regular files under `dir`; anything else (a symlink, a socket) is refused. */
async function listDir(dir: string, sub = ''): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(path.join(dir, sub), { withFileTypes: true })) {
    const name = sub ? `${sub}/${entry.name}` : entry.name;
    if (entry.isDirectory()) names.push(...(await listDir(dir, name)));
    else if (entry.isFile()) names.push(name);
    else throw new BundleIntegrityError(name, 'unexpected', `${path.join(dir, name)} is not a regular file`);
  }
  return names;
}

/** Write to a temporary file beside the target, fsync, rename: readers see the old file or the new one, never a part. */
async function writeAtomic(target: string, content: Uint8Array): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.${randomUUID()}${TMP_SUFFIX}`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Writes a verified bundle under `dir` (created when missing); returns its manifest. */
export async function saveBundleToDir(files: ReadonlyMap<string, Uint8Array>, dir: string): Promise<BundleManifest> {
  const manifest = verifyBundle(files);
  await mkdir(dir, { recursive: true });
  const existing = await listDir(dir);
  for (const name of existing.filter((n) => n.endsWith(TMP_SUFFIX) && !files.has(n))) await unlink(path.join(dir, name));
  checkNoStrangers(
    existing.filter((n) => !n.endsWith(TMP_SUFFIX)),
    files,
    `directory ${dir}`,
  );
  const manifestPath = path.join(dir, BUNDLE_FILES.manifest);
  const manifestBytes = files.get(BUNDLE_FILES.manifest) as Uint8Array;
  const oldManifest = existing.includes(BUNDLE_FILES.manifest) ? await readFile(manifestPath) : undefined;
  // Another bundle's manifest goes first, so that the directory never verifies while its files are being replaced.
  if (oldManifest && !sameBytes(oldManifest, manifestBytes)) await unlink(manifestPath);
  for (const [name, content] of files) if (name !== BUNDLE_FILES.manifest) await writeAtomic(path.join(dir, name), content);
  await writeAtomic(manifestPath, manifestBytes);
  return manifest;
}

/** Reads every file under `dir` and verifies them as a bundle (BundleIntegrityError naming the file otherwise). */
export async function loadBundleFilesFromDir(dir: string): Promise<ModelBundleFiles> {
  const files: ModelBundleFiles = new Map();
  for (const name of await listDir(dir)) files.set(name, new Uint8Array(await readFile(path.join(dir, name))));
  verifyBundle(files);
  return files;
}

/** `prefix` without surrounding slashes, followed by one: the bundle's keys are `<prefix>/<name>`. */
function keyBase(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (!trimmed) throw new InvalidInputError(`prefix = ${JSON.stringify(prefix)}: a bundle needs a non-empty S3 prefix of its own`);
  return `${trimmed}/`;
}

/** Uploads a verified bundle to `<prefix>/` in `bucket`, manifest.json last; returns its manifest. */
export async function saveBundleToS3(
  s3: S3,
  bucket: string,
  prefix: string,
  files: ReadonlyMap<string, Uint8Array>,
): Promise<BundleManifest> {
  const manifest = verifyBundle(files);
  const base = keyBase(prefix);
  const existing = (await listKeys(s3, bucket, base)).map((key) => key.slice(base.length));
  checkNoStrangers(existing, files, `s3://${bucket}/${base}`);
  const manifestBytes = files.get(BUNDLE_FILES.manifest) as Uint8Array;
  const manifestKey = base + BUNDLE_FILES.manifest;
  if (existing.includes(BUNDLE_FILES.manifest) && !sameBytes(await getObjectBuffer(s3, bucket, manifestKey), manifestBytes)) {
    await s3.removeObject(bucket, manifestKey);
  }
  const put = (name: string, content: Uint8Array) =>
    s3.putObject(bucket, base + name, Buffer.from(content.buffer, content.byteOffset, content.byteLength), content.byteLength, {
      'Content-Type': contentType(name),
    });
  // allSettled: no upload is still running when this returns, even after a failure.
  const results = await Promise.allSettled(
    [...files].filter(([name]) => name !== BUNDLE_FILES.manifest).map(([name, content]) => put(name, content)),
  );
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  await put(BUNDLE_FILES.manifest, manifestBytes);
  return manifest;
}

/** Downloads every object under `<prefix>/` and verifies them as a bundle (BundleIntegrityError naming the file otherwise). */
export async function loadBundleFilesFromS3(s3: S3, bucket: string, prefix: string): Promise<ModelBundleFiles> {
  const base = keyBase(prefix);
  const keys = await listKeys(s3, bucket, base);
  const contents = await Promise.all(keys.map((key) => getObjectBuffer(s3, bucket, key)));
  const files: ModelBundleFiles = new Map(keys.map((key, i) => [key.slice(base.length), new Uint8Array(contents[i])]));
  verifyBundle(files);
  return files;
}
