import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadBundleFilesFromDir, loadBundleFilesFromS3, saveBundleToDir, saveBundleToS3 } from '../../clients/bundle-store';
import { createS3, ensureBucket, getObjectBuffer, listKeys, type S3 } from '../../clients/s3';
import { loadConfig } from '../../config';
import { BUNDLE_FILES, BundleIntegrityError, loadBundle, type ModelBundleFiles, packBundle, verifyBundle } from '../../ml/bundle';
import { InvalidInputError } from '../../ml/errors';
import { FEATURE_COUNT } from '../../ml/features';
import { buildPrivacyReport } from '../../ml/privacy';
import { Rng } from '../../ml/random';
import { selectBackend } from '../../ml/tensorflow';
import { fixedTransform, transformStep } from '../../ml/transforms';

const config = loadConfig();
const s3 = createS3(config);
const bucket = config.stack.s3.bucket;
const root = `test/bundle-store/${randomUUID()}`;
const dirs: string[] = [];

async function bundle(seed: number): Promise<ModelBundleFiles> {
  const rng = new Rng([seed]);
  const weights = (n: number) => Float32Array.from({ length: n }, () => rng.normal(0, 0.3));
  const transform = fixedTransform();
  return packBundle({
    model: {
      inputs: FEATURE_COUNT,
      hidden: [8],
      layers: [
        { weights: weights(FEATURE_COUNT * 8), bias: weights(8) },
        { weights: weights(8), bias: weights(1) },
      ],
    },
    transform,
    labelDelayDays: 7,
    threshold: 0.5,
    metrics: { seed },
    privacy: buildPrivacyReport({ spent: null, records: 1000, preprocessing: [transformStep(transform)] }),
    extraFiles: [['plots/pr.svg', `<svg><!-- ${seed} --></svg>`]],
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seed)).toISOString(),
  });
}

function integrityError(file: string, problem: string): (err: unknown) => boolean {
  return (err) => err instanceof BundleIntegrityError && err.file === file && err.problem === problem && err.message.includes(file);
}

async function keysUnder(prefix: string): Promise<string[]> {
  return (await listKeys(s3, bucket, prefix)).sort();
}

/** The S3 client, failing every putObject after the first `allowed`. */
function failingAfter(allowed: number): { client: S3; puts: string[] } {
  const puts: string[] = [];
  const client = new Proxy(s3, {
    get(target, property, receiver) {
      if (property !== 'putObject') return Reflect.get(target, property, receiver);
      return (b: string, key: string, ...rest: unknown[]) => {
        if (puts.length >= allowed) return Promise.reject(new Error(`injected failure on ${key}`));
        puts.push(key);
        return (target.putObject as (...args: unknown[]) => Promise<unknown>).call(target, b, key, ...rest);
      };
    },
  });
  return { client, puts };
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-bundle-'));
  dirs.push(dir);
  return dir;
}

describe('bundle store', () => {
  let a: ModelBundleFiles;
  let b: ModelBundleFiles;
  before(async () => {
    await selectBackend('tensorflow', () => undefined);
    await ensureBucket(config, s3);
    [a, b] = await Promise.all([bundle(1), bundle(2)]);
  });
  after(async () => {
    const keys = await keysUnder(`${root}/`);
    if (keys.length) await s3.removeObjects(bucket, keys);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('S3 (real SeaweedFS): save, load, verify and serve; a tampered object fails naming it', async () => {
    const prefix = `${root}/roundtrip`;
    const manifest = await saveBundleToS3(s3, bucket, prefix, a);
    assert.deepEqual(await keysUnder(`${prefix}/`), [...a.keys()].map((name) => `${prefix}/${name}`).sort());
    const loaded = await loadBundleFilesFromS3(s3, bucket, `${prefix}/`);
    assert.deepEqual(loaded, a);
    assert.equal(verifyBundle(loaded).bundleSha256, manifest.bundleSha256);
    const model = await loadBundle(loaded);
    const x = Float64Array.from({ length: 4 * FEATURE_COUNT }, (_, k) => (k * 7) % 13);
    const direct = await loadBundle(a);
    assert.deepEqual(model.predict(x, 4), direct.predict(x, 4));
    model.dispose();
    direct.dispose();

    const weightsKey = `${prefix}/${BUNDLE_FILES.weights}`;
    const tampered = await getObjectBuffer(s3, bucket, weightsKey);
    tampered[tampered.length >> 1] ^= 0x04;
    await s3.putObject(bucket, weightsKey, tampered, tampered.length);
    await assert.rejects(loadBundleFilesFromS3(s3, bucket, prefix), integrityError(BUNDLE_FILES.weights, 'hash-mismatch'));

    await s3.putObject(bucket, weightsKey, Buffer.from(a.get(BUNDLE_FILES.weights) as Uint8Array));
    await s3.putObject(bucket, `${prefix}/stray.txt`, Buffer.from('x'));
    await assert.rejects(loadBundleFilesFromS3(s3, bucket, prefix), integrityError('stray.txt', 'unexpected'));
    await assert.rejects(
      saveBundleToS3(s3, bucket, prefix, a),
      (err: Error) => err instanceof InvalidInputError && /stray\.txt/.test(err.message),
    );
  });

  it('S3: a write that stops half-way leaves no manifest, so nothing verifies; the retry completes it', async () => {
    const prefix = `${root}/partial`;
    const { client, puts } = failingAfter(4);
    await assert.rejects(saveBundleToS3(client, bucket, prefix, a), /injected failure/);
    assert.equal(puts.length, 4);
    const written = await keysUnder(`${prefix}/`);
    assert.ok(written.length === 4 && !written.includes(`${prefix}/${BUNDLE_FILES.manifest}`), written.join(', '));
    await assert.rejects(loadBundleFilesFromS3(s3, bucket, prefix), integrityError(BUNDLE_FILES.manifest, 'missing'));
    await saveBundleToS3(s3, bucket, prefix, a);
    assert.deepEqual(await loadBundleFilesFromS3(s3, bucket, prefix), a);
  });

  it('S3: replacing a bundle removes the old manifest first, so a stopped replacement never verifies as either', async () => {
    const prefix = `${root}/replace`;
    await saveBundleToS3(s3, bucket, prefix, a);
    const { client } = failingAfter(2);
    await assert.rejects(saveBundleToS3(client, bucket, prefix, b), /injected failure/);
    await assert.rejects(loadBundleFilesFromS3(s3, bucket, prefix), integrityError(BUNDLE_FILES.manifest, 'missing'));
    await saveBundleToS3(s3, bucket, prefix, b);
    assert.deepEqual(await loadBundleFilesFromS3(s3, bucket, prefix), b);
    await assert.rejects(saveBundleToS3(s3, bucket, '/', a), /non-empty S3 prefix/);
  });

  it('directory: atomic writes, round trip, tampering and strangers refused', async () => {
    const dir = path.join(tempDir(), 'bundle');
    await saveBundleToDir(a, dir);
    assert.deepEqual(await loadBundleFilesFromDir(dir), a);
    assert.ok(!readdirSync(dir, { recursive: true }).some((name) => String(name).endsWith('.fraudops-tmp')), 'no temporary file left');

    await saveBundleToDir(b, dir);
    assert.deepEqual(await loadBundleFilesFromDir(dir), b);

    const target = path.join(dir, 'plots', 'pr.svg');
    const bytes = readFileSync(target);
    bytes[0] ^= 0x20;
    writeFileSync(target, bytes);
    await assert.rejects(loadBundleFilesFromDir(dir), integrityError('plots/pr.svg', 'hash-mismatch'));
    await saveBundleToDir(b, dir); // rewriting the same bundle repairs it
    assert.deepEqual(await loadBundleFilesFromDir(dir), b);

    writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    await assert.rejects(loadBundleFilesFromDir(dir), integrityError('notes.txt', 'unexpected'));
    await assert.rejects(saveBundleToDir(a, dir), (err: Error) => err instanceof InvalidInputError && /notes\.txt/.test(err.message));
    await assert.rejects(loadBundleFilesFromDir(tempDir()), integrityError(BUNDLE_FILES.manifest, 'missing'));
  });
});
