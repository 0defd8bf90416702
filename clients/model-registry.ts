// Promotion and rollback in the MLflow registry: alias `champion` is the serving model, `previous` the one it
// replaced. Every change is announced on the model-events topic, so the API and the stream scorer hot-swap.
// Promotion is idempotent (promoting the champion again changes and announces nothing); a rollback swaps the
// two aliases, so a second rollback undoes the first.
import { type ModelBundleFiles, verifyBundle } from '../ml/bundle';
import { loadBundleFilesFromS3, saveBundleToS3 } from './bundle-store';
import { createIdempotentProducer, type Kafka } from './kafka';
import type { MlflowClient, ModelVersion } from './mlflow';
import type { S3 } from './s3';

export const CHAMPION = 'champion';
export const PREVIOUS = 'previous';

/** Tags every registered version carries; serving finds the bundle through `bundleKey`. */
export const VERSION_TAGS = {
  bundleKey: 'bundle_key',
  bundleSha256: 'bundle_sha256',
  datasetSha256: 'dataset_sha256',
  workflowId: 'workflow_id',
  /** Set when the approval is decided: approved | rejected | expired, with who, why and when. */
  decision: 'decision',
  approver: 'decision_approver',
  reason: 'decision_reason',
  decidedAt: 'decision_at',
} as const;

/** Bundles are content-addressed in S3: `models/<bundleSha256>/`. */
export const bundleKeyFor = (bundleSha256: string): string => `models/${bundleSha256}`;

export const versionTag = (version: ModelVersion, key: string): string | undefined => version.tags?.find((tag) => tag.key === key)?.value;

export interface ModelEvent {
  type: 'promoted' | 'rolled-back';
  model: string;
  champion: string;
  previous: string | null;
  at: string;
  /** Why, when a policy (not an operator) acted: e.g. the live quality monitor's rollback. */
  reason?: string;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
}

async function announce(kafka: Kafka, topic: string, event: ModelEvent): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ key: event.model, value: JSON.stringify(event) }] });
  } finally {
    await producer.disconnect();
  }
}

export interface RegistryDeps {
  mlflow: MlflowClient;
  kafka: Kafka;
  /** The model-events topic. */
  topic: string;
}

/** Makes `version` the champion and the old champion `previous`; returns the event, or null when it already was. */
export async function promoteVersion(deps: RegistryDeps, model: string, version: string): Promise<ModelEvent | null> {
  await deps.mlflow.getModelVersion(model, version); // fails with MLflow's message for an unknown version
  const current = await deps.mlflow.getVersionByAlias(model, CHAMPION);
  if (current?.version === version) return null;
  if (current) await deps.mlflow.setAlias(model, PREVIOUS, current.version);
  await deps.mlflow.setAlias(model, CHAMPION, version);
  const event: ModelEvent = {
    type: 'promoted',
    model,
    champion: version,
    previous: current?.version ?? null,
    at: new Date().toISOString(),
  };
  await announce(deps.kafka, deps.topic, event);
  return event;
}

/** Swaps `champion` and `previous` (the previous champion serves again); throws when there is no previous. */
export async function rollbackChampion(deps: RegistryDeps, model: string, reason?: string): Promise<ModelEvent> {
  const previous = await deps.mlflow.getVersionByAlias(model, PREVIOUS);
  if (!previous) throw new RegistryError(`model ${model} has no "${PREVIOUS}" alias: there is nothing to roll back to`);
  const champion = await deps.mlflow.getVersionByAlias(model, CHAMPION);
  await deps.mlflow.setAlias(model, CHAMPION, previous.version);
  if (champion) await deps.mlflow.setAlias(model, PREVIOUS, champion.version);
  const event: ModelEvent = {
    type: 'rolled-back',
    model,
    champion: previous.version,
    previous: champion?.version ?? null,
    at: new Date().toISOString(),
    ...(reason ? { reason } : {}),
  };
  await announce(deps.kafka, deps.topic, event);
  return event;
}

/** Downloads and verifies the bundle of a registered version (BundleIntegrityError naming the file at fault). */
export async function bundleOfVersion(s3: S3, bucket: string, version: ModelVersion): Promise<ModelBundleFiles> {
  const key = versionTag(version, VERSION_TAGS.bundleKey);
  if (!key)
    throw new RegistryError(`model ${version.name} version ${version.version} has no ${VERSION_TAGS.bundleKey} tag: it has no bundle`);
  return loadBundleFilesFromS3(s3, bucket, key);
}

/** The champion's version and verified bundle files, or undefined when no version is champion yet. */
export async function championBundle(
  deps: { mlflow: MlflowClient; s3: S3; bucket: string },
  model: string,
): Promise<{ version: ModelVersion; files: ModelBundleFiles } | undefined> {
  const version = await deps.mlflow.getVersionByAlias(model, CHAMPION);
  if (!version) return undefined;
  return { version, files: await bundleOfVersion(deps.s3, deps.bucket, version) };
}

/**
 * Stores the bundle at `models/<bundleSha256>/` and registers it as a version of `model`, tagged with its key and hash.
 * Idempotent per MLflow run: when the run already has a version of this model, that version is returned unchanged.
 */
export async function registerBundleVersion(
  deps: { mlflow: MlflowClient; s3: S3; bucket: string },
  model: string,
  files: ModelBundleFiles,
  options: { runId?: string; tags?: Record<string, string>; description?: string } = {},
): Promise<ModelVersion> {
  await deps.mlflow.ensureRegisteredModel(model, 'Fraud detector trained by the fraudops pipeline; alias champion serves.');
  if (options.runId) {
    const existing = await deps.mlflow.searchModelVersions(`name='${model}' and run_id='${options.runId}'`);
    if (existing.length > 0) return existing.sort((a, b) => Number(a.version) - Number(b.version))[0];
  }
  const key = bundleKeyFor(verifyBundle(files).bundleSha256);
  const manifest = await saveBundleToS3(deps.s3, deps.bucket, key, files);
  return deps.mlflow.createModelVersion(model, `s3://${deps.bucket}/${key}`, {
    runId: options.runId,
    description: options.description,
    tags: { ...options.tags, [VERSION_TAGS.bundleKey]: key, [VERSION_TAGS.bundleSha256]: manifest.bundleSha256 },
  });
}
