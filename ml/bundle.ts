// The model bundle: everything serving needs (the MLP as a TensorFlow.js LayersModel, the input transform, the feature
// spec, the threshold) plus what explains it (metrics, privacy report, plots), checksummed by a manifest.
// An EBM (ml/ebm/) travels as its JSON in model.json (format fraudops-ebm/1) with an empty weights.bin: the same
// files, so the manifest rules and every reader of a bundle stay as they are.
//
// manifest.json is canonical JSON (2-space indent, files sorted by name) and its bundleSha256 hashes the format,
// createdAt and the sorted [name, sha256, bytes] list, so the manifest's every byte is checked and bundleSha256
// alone identifies the whole bundle. Pure: no I/O (clients/bundle-store.ts reads and writes bundles).
import { createHash } from 'node:crypto';
import type { MlpParameters } from './dpsgd/types';
import { EBM_FORMAT, type EbmModel, parseEbmModel, predictEbm } from './ebm/model';
import { InvalidInputError } from './errors';
import { type FeatureSet, HANDBOOK_FEATURE_SET, parseFeatureSet } from './feature-set';
import { LEGACY_PRIVACY_REPORT_FORMATS, PRIVACY_REPORT_FORMAT, type PrivacyReport, renderPrivacyReport } from './privacy/report';
import { tf } from './tensorflow';
import { applyTransform, parseTransformSpec, type TransformSpec, transformWidth } from './transforms';
import { isPublicReference } from './validation/public-reference';

export const BUNDLE_FORMAT = 'fraudops-model-bundle/1';

export const BUNDLE_FILES = {
  manifest: 'manifest.json',
  model: 'model.json',
  weights: 'weights.bin',
  transform: 'transform.json',
  features: 'features.json',
  threshold: 'threshold.json',
  metrics: 'metrics.json',
  privacy: 'privacy.json',
  privacyMarkdown: 'privacy.md',
} as const;

/**
 * The extra file with the training rows' feature counts in public bins (ml/validation/public-reference.ts): the
 * pipeline writes it, validation and drift monitoring compare against it. A bundle refuses one whose bins came from
 * the data (exact min, max or percentiles of private records must not leave with the model).
 */
export const REFERENCE_FILE = 'reference.json';

const RESERVED_NAMES = new Set<string>(Object.values(BUNDLE_FILES));
/** Relative POSIX paths of plain segments: safe as S3 keys and as paths under a directory. */
const FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
const PREDICT_BATCH = 8192;

/** The model's inputs (ml/feature-set.ts) and the label delay their terminal features were computed with. */
export interface FeatureSpec extends FeatureSet {
  labelDelayDays: number;
}

export interface BundleParts {
  /** An MLP (logistic and quadratic: no hidden layer; quadratic takes transformWidth inputs) or an EBM. */
  model: MlpParameters | EbmModel;
  transform: TransformSpec;
  /** The model's inputs (the handbook's 15 features by default). */
  features?: FeatureSet;
  /** The label delay the terminal features were computed with. */
  labelDelayDays: number;
  /** Decision threshold on the model's score, in [0, 1]. */
  threshold: number;
  /** Free-form, JSON-serialisable. */
  metrics: unknown;
  privacy: PrivacyReport;
  /** More files (e.g. plots/pr.svg): relative paths of [A-Za-z0-9._-] segments, not a reserved name. */
  extraFiles?: Iterable<[string, Uint8Array | string]>;
  /** ISO 8601 UTC time of creation; given by the caller so that the same parts give the same bundle. */
  createdAt: string;
}

/** File name → content; includes manifest.json. */
export type ModelBundleFiles = Map<string, Uint8Array>;

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  createdAt: string;
  files: Record<string, { sha256: string; bytes: number }>;
  bundleSha256: string;
}

export type BundleProblem = 'missing' | 'unexpected' | 'size-mismatch' | 'hash-mismatch' | 'bad-manifest' | 'bad-content';

/** A bundle that must not be served: `file` names the file, `problem` what is wrong with it. */
export class BundleIntegrityError extends Error {
  override name = 'BundleIntegrityError';

  constructor(
    readonly file: string,
    readonly problem: BundleProblem,
    detail: string,
  ) {
    super(`model bundle: ${file}: ${problem}: ${detail}`);
  }
}

export interface LoadedModel {
  manifest: BundleManifest;
  threshold: number;
  features: FeatureSpec;
  transform: TransformSpec;
  metrics: unknown;
  privacy: PrivacyReport;
  privacyMarkdown: string;
  /** The model that serves: an MLP as a TensorFlow.js model, or an EBM (exactly one of the two). */
  model?: tf.LayersModel;
  ebm?: EbmModel;
  /** Scores of raw feature rows (rows × features.names.length, row-major): the transform, then the model. */
  predict(featureRows: ArrayLike<number>, rows: number): Float32Array;
  dispose(): void;
}

const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const jsonFile = (value: unknown): Uint8Array => encode(`${JSON.stringify(value, null, 2)}\n`);

function isIsoTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value)) && new Date(value).toISOString() === value;
}

function checkMlp(model: MlpParameters, width: number): void {
  const { inputs, hidden, layers } = model;
  if (inputs !== width)
    throw new InvalidInputError(`model.inputs = ${inputs}: the bundle's model takes the ${width} inputs its transform makes`);
  if (!hidden.every((units) => Number.isSafeInteger(units) && units >= 1)) {
    throw new InvalidInputError(`model.hidden = [${hidden}]: layer widths must be whole numbers >= 1`);
  }
  const widths = [inputs, ...hidden, 1];
  if (layers.length !== widths.length - 1) {
    throw new InvalidInputError(`model.layers has ${layers.length} layers: hidden [${hidden}] + output needs ${widths.length - 1}`);
  }
  layers.forEach(({ weights, bias }, l) => {
    const [fanIn, fanOut] = [widths[l], widths[l + 1]];
    if (weights.length !== fanIn * fanOut) {
      throw new InvalidInputError(`model.layers[${l}].weights has ${weights.length} values: it must hold ${fanIn} × ${fanOut}`);
    }
    if (bias.length !== fanOut) throw new InvalidInputError(`model.layers[${l}].bias has ${bias.length} values: it must hold ${fanOut}`);
    if (![...weights, ...bias].every(Number.isFinite)) throw new InvalidInputError(`model.layers[${l}]: weights and bias must be finite`);
  });
}

/** The MLP as a tf.Sequential of dense layers (relu … sigmoid) holding the given weights; names fixed so model.json is reproducible. */
function buildSequential(params: MlpParameters): tf.Sequential {
  const widths = [...params.hidden, 1];
  const model = tf.sequential({
    name: 'fraudops_mlp',
    layers: widths.map((units, l) =>
      tf.layers.dense({
        name: `dense_${l}`,
        units,
        activation: l === widths.length - 1 ? 'sigmoid' : 'relu',
        kernelInitializer: 'zeros',
        ...(l === 0 ? { inputShape: [params.inputs] } : {}),
      }),
    ),
  });
  const fanIns = [params.inputs, ...params.hidden];
  const tensors = params.layers.flatMap(({ weights, bias }, l) => [tf.tensor2d(weights, [fanIns[l], widths[l]]), tf.tensor1d(bias)]);
  model.setWeights(tensors);
  for (const tensor of tensors) tensor.dispose();
  return model;
}

/** model.json (TensorFlow.js layers format, weights in weights.bin) and weights.bin of the MLP. */
async function serialiseMlp(params: MlpParameters): Promise<{ modelJson: Uint8Array; weights: Uint8Array }> {
  const model = buildSequential(params);
  let artifacts: tf.io.ModelArtifacts | undefined;
  try {
    await model.save(
      tf.io.withSaveHandler(async (saved) => {
        artifacts = saved;
        return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
      }),
    );
  } finally {
    model.dispose();
  }
  if (!artifacts?.weightSpecs || !artifacts.weightData) throw new Error('TensorFlow.js saved the model without weights');
  const modelJson = {
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [BUNDLE_FILES.weights], weights: artifacts.weightSpecs }],
  };
  return { modelJson: jsonFile(modelJson), weights: new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData)) };
}

function sortedEntries(files: BundleManifest['files']): Array<[string, { sha256: string; bytes: number }]> {
  return Object.keys(files)
    .sort()
    .map((name) => [name, files[name]]);
}

function bundleHash(format: string, createdAt: string, files: BundleManifest['files']): string {
  return sha256(JSON.stringify([format, createdAt, sortedEntries(files).map(([name, { sha256, bytes }]) => [name, sha256, bytes])]));
}

function manifestBytes(manifest: BundleManifest): Uint8Array {
  const files = Object.fromEntries(sortedEntries(manifest.files).map(([name, { sha256, bytes }]) => [name, { sha256, bytes }]));
  return jsonFile({ format: manifest.format, createdAt: manifest.createdAt, files, bundleSha256: manifest.bundleSha256 });
}

function checkReference(content: Uint8Array): void {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(content));
  } catch (err) {
    throw new InvalidInputError(`${REFERENCE_FILE}: not JSON (${(err as Error).message})`);
  }
  if (!isPublicReference(value)) {
    throw new InvalidInputError(
      `${REFERENCE_FILE}: basis must be 'public-bins' (publicReferenceStatistics): statistics binned by the data would release private values`,
    );
  }
}

function extraFiles(parts: BundleParts): Array<[string, Uint8Array]> {
  return [...(parts.extraFiles ?? [])].map(([name, content]) => {
    if (!FILE_NAME.test(name) || RESERVED_NAMES.has(name)) {
      throw new InvalidInputError(
        `extra file ${JSON.stringify(name)}: names must be relative paths of [A-Za-z0-9._-] segments and not one of ${[...RESERVED_NAMES].join(', ')}`,
      );
    }
    const bytes = typeof content === 'string' ? encode(content) : content;
    if (name === REFERENCE_FILE) checkReference(bytes);
    return [name, bytes];
  });
}

/** Packs the parts into the files of a bundle, manifest.json included. */
export async function packBundle(parts: BundleParts): Promise<ModelBundleFiles> {
  const set = parts.features ?? HANDBOOK_FEATURE_SET;
  const transform = parseTransformSpec(parts.transform, set);
  const ebm = isEbmModel(parts.model) ? parseEbmModel(parts.model, transformWidth(transform)) : undefined;
  if (!isEbmModel(parts.model)) checkMlp(parts.model, transformWidth(transform));
  if (!(Number.isFinite(parts.threshold) && parts.threshold >= 0 && parts.threshold <= 1)) {
    throw new InvalidInputError(`threshold = ${parts.threshold}: it must be a number in [0, 1]`);
  }
  if (!(Number.isFinite(parts.labelDelayDays) && parts.labelDelayDays >= 0)) {
    throw new InvalidInputError(`labelDelayDays = ${parts.labelDelayDays}: it must be a number >= 0`);
  }
  if (!isIsoTime(parts.createdAt))
    throw new InvalidInputError(`createdAt = ${JSON.stringify(parts.createdAt)}: it must be an ISO 8601 UTC time (toISOString())`);
  const metricsJson = JSON.stringify(parts.metrics, null, 2);
  if (metricsJson === undefined) throw new InvalidInputError('metrics must be JSON-serialisable');

  const { modelJson, weights } = ebm
    ? { modelJson: jsonFile(ebm), weights: new Uint8Array(0) }
    : await serialiseMlp(parts.model as MlpParameters);
  const features: FeatureSpec = { ...set, labelDelayDays: parts.labelDelayDays };
  const files: ModelBundleFiles = new Map([
    [BUNDLE_FILES.model, modelJson],
    [BUNDLE_FILES.weights, weights],
    [BUNDLE_FILES.transform, jsonFile(transform)],
    [BUNDLE_FILES.features, jsonFile(features)],
    [BUNDLE_FILES.threshold, jsonFile({ threshold: parts.threshold })],
    [BUNDLE_FILES.metrics, encode(`${metricsJson}\n`)],
    [BUNDLE_FILES.privacy, jsonFile(parts.privacy)],
    [BUNDLE_FILES.privacyMarkdown, encode(renderPrivacyReport(parts.privacy))],
    ...extraFiles(parts),
  ]);
  const entries: BundleManifest['files'] = Object.fromEntries(
    [...files].map(([name, content]) => [name, { sha256: sha256(content), bytes: content.byteLength }]),
  );
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    createdAt: parts.createdAt,
    files: entries,
    bundleSha256: bundleHash(BUNDLE_FORMAT, parts.createdAt, entries),
  };
  files.set(BUNDLE_FILES.manifest, manifestBytes(manifest));
  return files;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

function parseManifest(bytes: Uint8Array): BundleManifest {
  const bad = (detail: string) => new BundleIntegrityError(BUNDLE_FILES.manifest, 'bad-manifest', detail);
  let value: BundleManifest;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw bad(`not UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null) throw bad('not a JSON object');
  if (value.format !== BUNDLE_FORMAT) throw bad(`format = ${JSON.stringify(value.format)}, expected ${BUNDLE_FORMAT}`);
  if (!isIsoTime(value.createdAt)) throw bad(`createdAt = ${JSON.stringify(value.createdAt)} is not an ISO 8601 UTC time`);
  if (typeof value.files !== 'object' || value.files === null || Array.isArray(value.files)) throw bad('files must be an object');
  for (const [name, entry] of Object.entries(value.files)) {
    if (!FILE_NAME.test(name) || name === BUNDLE_FILES.manifest) throw bad(`file name ${JSON.stringify(name)} is not allowed`);
    if (typeof entry?.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(entry.sha256)) throw bad(`${name}: sha256 must be 64 hex digits`);
    if (!Number.isSafeInteger(entry.bytes) || entry.bytes < 0) throw bad(`${name}: bytes must be a whole number >= 0`);
  }
  if (typeof value.bundleSha256 !== 'string') throw bad('bundleSha256 is missing');
  const expected = bundleHash(value.format, value.createdAt, value.files);
  if (value.bundleSha256 !== expected) throw bad(`bundleSha256 ${value.bundleSha256} does not match its contents (${expected})`);
  if (!sameBytes(manifestBytes(value), bytes)) throw bad('not in canonical form');
  return value;
}

/** Checks every file against the manifest; returns the manifest or throws BundleIntegrityError naming the file. */
export function verifyBundle(files: ReadonlyMap<string, Uint8Array>): BundleManifest {
  const manifestFile = files.get(BUNDLE_FILES.manifest);
  if (!manifestFile) throw new BundleIntegrityError(BUNDLE_FILES.manifest, 'missing', 'the bundle has no manifest');
  const manifest = parseManifest(manifestFile);
  for (const name of RESERVED_NAMES) {
    if (name !== BUNDLE_FILES.manifest && !Object.hasOwn(manifest.files, name))
      throw new BundleIntegrityError(name, 'missing', 'not listed in the manifest');
  }
  for (const [name, { sha256: expected, bytes }] of sortedEntries(manifest.files)) {
    const content = files.get(name);
    if (!content) throw new BundleIntegrityError(name, 'missing', 'listed in the manifest but absent');
    if (content.byteLength !== bytes)
      throw new BundleIntegrityError(name, 'size-mismatch', `${content.byteLength} bytes, the manifest says ${bytes}`);
    const actual = sha256(content);
    if (actual !== expected) throw new BundleIntegrityError(name, 'hash-mismatch', `sha256 ${actual}, the manifest says ${expected}`);
  }
  for (const name of files.keys()) {
    if (name !== BUNDLE_FILES.manifest && !Object.hasOwn(manifest.files, name))
      throw new BundleIntegrityError(name, 'unexpected', 'not listed in the manifest');
  }
  return manifest;
}

function readJson(files: ReadonlyMap<string, Uint8Array>, name: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(files.get(name)));
  } catch (err) {
    throw new BundleIntegrityError(name, 'bad-content', `not JSON (${(err as Error).message})`);
  }
}

/** Runs `check`, turning its InvalidInputError into a BundleIntegrityError naming `file`. */
function content<T>(file: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof BundleIntegrityError) throw err;
    throw new BundleIntegrityError(file, 'bad-content', (err as Error).message);
  }
}

async function loadModel(files: ReadonlyMap<string, Uint8Array>, width: number): Promise<tf.LayersModel> {
  const modelJson = readJson(files, BUNDLE_FILES.model) as tf.io.ModelJSON;
  const weightSpecs = content(BUNDLE_FILES.model, () => {
    const groups = modelJson.weightsManifest;
    if (!Array.isArray(groups) || groups.length !== 1 || groups[0].paths?.length !== 1 || groups[0].paths[0] !== BUNDLE_FILES.weights) {
      throw new Error(`weightsManifest must name exactly one weights file, ${BUNDLE_FILES.weights}`);
    }
    return groups[0].weights;
  });
  const bytes = files.get(BUNDLE_FILES.weights) as Uint8Array;
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(tf.io.getModelArtifactsForJSONSync(modelJson, weightSpecs, weightData)));
  } catch (err) {
    throw new BundleIntegrityError(BUNDLE_FILES.model, 'bad-content', `TensorFlow.js cannot load it (${(err as Error).message})`);
  }
  const [input, output] = [model.inputs[0].shape, model.outputs[0].shape];
  if (model.inputs.length !== 1 || input.length !== 2 || input[1] !== width || output.length !== 2 || output[1] !== 1) {
    model.dispose();
    throw new BundleIntegrityError(
      BUNDLE_FILES.model,
      'bad-content',
      `the model maps [${input}] to [${output}], expected [null,${width}] to [null,1]`,
    );
  }
  return model;
}

function parseFeatures(value: unknown): FeatureSpec {
  const spec = value as FeatureSpec;
  // A bundle written before feature sets existed holds only names and the delay: the handbook's set.
  const set = parseFeatureSet(spec?.extras === undefined ? { ...HANDBOOK_FEATURE_SET, names: spec?.names } : spec);
  if (!(Number.isFinite(spec.labelDelayDays) && spec.labelDelayDays >= 0))
    throw new InvalidInputError(`labelDelayDays = ${spec.labelDelayDays}: must be a number >= 0`);
  return { ...set, labelDelayDays: spec.labelDelayDays };
}

function parseThreshold(value: unknown): number {
  const threshold = (value as { threshold?: unknown })?.threshold;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1))
    throw new InvalidInputError(`threshold = ${threshold}: must be a number in [0, 1]`);
  return threshold;
}

function parsePrivacy(value: unknown): PrivacyReport {
  const format: string = (value as PrivacyReport)?.format;
  const known: readonly string[] = [PRIVACY_REPORT_FORMAT, ...LEGACY_PRIVACY_REPORT_FORMATS];
  if (!known.includes(format)) throw new InvalidInputError(`format = ${JSON.stringify(format)}: expected one of ${known.join(', ')}`);
  return value as PrivacyReport;
}

const isEbmModel = (value: unknown): value is EbmModel => (value as EbmModel)?.format === EBM_FORMAT;

/** Verifies the bundle, then loads it for serving. Throws BundleIntegrityError naming the file at fault. */
export async function loadBundle(files: ReadonlyMap<string, Uint8Array>): Promise<LoadedModel> {
  const manifest = verifyBundle(files);
  const features = content(BUNDLE_FILES.features, () => parseFeatures(readJson(files, BUNDLE_FILES.features)));
  const transform = content(BUNDLE_FILES.transform, () => parseTransformSpec(readJson(files, BUNDLE_FILES.transform), features));
  const threshold = content(BUNDLE_FILES.threshold, () => parseThreshold(readJson(files, BUNDLE_FILES.threshold)));
  const metrics = readJson(files, BUNDLE_FILES.metrics);
  const privacy = content(BUNDLE_FILES.privacy, () => parsePrivacy(readJson(files, BUNDLE_FILES.privacy)));
  const privacyMarkdown = new TextDecoder().decode(files.get(BUNDLE_FILES.privacyMarkdown));
  const width = transformWidth(transform);
  const common = { manifest, threshold, features, transform, metrics, privacy, privacyMarkdown };
  const stored = readJson(files, BUNDLE_FILES.model);
  if (isEbmModel(stored)) {
    const ebm = content(BUNDLE_FILES.model, () => parseEbmModel(stored, width));
    if (files.get(BUNDLE_FILES.weights)?.byteLength !== 0)
      throw new BundleIntegrityError(
        BUNDLE_FILES.weights,
        'bad-content',
        'an EBM bundle keeps its model in model.json: weights.bin must be empty',
      );
    return {
      ...common,
      ebm,
      predict: (featureRows, rows) => predictEbm(ebm, applyTransform(transform, featureRows, rows), rows),
      dispose() {},
    };
  }
  const model = await loadModel(files, width);
  return {
    ...common,
    model,
    predict(featureRows, rows) {
      const inputs = applyTransform(transform, featureRows, rows);
      if (rows === 0) return new Float32Array(0);
      // dataSync outside tidy: a typed array returned from tidy is walked element by element.
      const scores = tf.tidy(() => model.predict(tf.tensor2d(inputs, [rows, width]), { batchSize: PREDICT_BATCH }) as tf.Tensor);
      try {
        return scores.dataSync() as Float32Array;
      } finally {
        scores.dispose();
      }
    },
    dispose() {
      model.dispose();
    },
  };
}
