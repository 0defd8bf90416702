// The one config module: `config.yaml` (non-secret settings) and `.env` (secrets), both validated.
// A bad value fails at start with the key, the value and the rule.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { HANDBOOK_RECORDS, newPseudonymKey, PSEUDONYM_KEY_VARIABLE, recordsSchema } from '../records';

const port = z.number().int().min(1).max(65535);
/** A Temporal duration such as 90s, 15m, 2h, 7d. */
const duration = z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'a duration: a number and ms, s, m, h or d (e.g. 90s, 7d)');
const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)');
/** Where clients reach a backing service when it is not stack.host (compose and k8s: a service name). */
const serviceHost = z
  .string()
  .regex(/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$/, 'a host name or IPv4 address (letters, digits, . and -)')
  .optional();

/** One key of tuning.space: a list of choices, or a log-uniform interval of numbers (ml/tuning/space.ts). */
const logUniform = (max = Number.POSITIVE_INFINITY) =>
  z
    .strictObject({ 'log-uniform': z.tuple([z.number().positive().max(max), z.number().positive().max(max)]) })
    .refine((d) => d['log-uniform'][0] <= d['log-uniform'][1], 'log-uniform [lo, hi] needs lo <= hi');
const choices = <T extends z.ZodType>(value: T) => z.array(value).min(1, 'at least one choice');
const numberDimension = (max?: number) =>
  z.union([
    choices(
      z
        .number()
        .positive()
        .max(max ?? Number.MAX_VALUE),
    ),
    logUniform(max),
  ]);
const trainingEnums = {
  family: z.enum(['logistic', 'quadratic', 'mlp', 'ebm']),
  balance: z.enum(['smote', 'class-weight', 'stratified', 'none']),
  optimizer: z.enum(['adam', 'sgd', 'adam-bc']),
  averaging: z.enum(['none', 'ema']),
  clipping: z.enum(['flat', 'automatic']),
};
const hiddenLayers = z.array(z.number().int().min(1).max(4096)).max(8);
/** The evaluation data's simulator seed (HANDBOOK_DEFAULTS.seed): tuning data must use other seeds. */
const EVALUATION_SEED = 0;

const settingsSchema = z.strictObject({
  stack: z.strictObject({
    dir: z.string().min(1),
    host: z.ipv4(),
    healthTimeoutSeconds: z.number().int().min(5).max(1800),
    temporal: z.strictObject({ host: serviceHost, port, uiPort: port, namespace: z.string().min(1) }),
    kafka: z.strictObject({
      host: serviceHost,
      port,
      controllerPort: port,
      partitions: z.number().int().min(1).max(64),
      heapMb: z.number().int().min(256).max(16384),
    }),
    s3: z.strictObject({
      host: serviceHost,
      port,
      bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3-63 of a-z 0-9 . -)'),
      region: z.string().min(1),
    }),
    mlflow: z.strictObject({ host: serviceHost, port }),
    redis: z.strictObject({ host: serviceHost, port }),
    prometheus: z.strictObject({ port }),
  }),
  tensorflow: z.strictObject({
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']),
  }),
  topics: z.strictObject({
    transactions: topicName,
    labels: topicName,
    dlq: topicName,
    modelEvents: topicName,
    predictions: topicName,
    reviewQueue: topicName,
  }),
  registry: z.strictObject({
    modelName: z.string().min(1),
  }),
  /** retention.ms of each topic when fraudops creates it (or finds it with another): what the scorer and ingest need. */
  topicRetention: z.strictObject({
    transactions: duration,
    labels: duration,
    dlq: duration,
    modelEvents: duration,
    predictions: duration,
    reviewQueue: duration,
  }),
  ingest: z.strictObject({
    consumerGroup: z.string().min(1),
    datasetPrefix: z.string().regex(/^[a-z0-9][a-z0-9/_-]*$/, 'an S3 key prefix (a-z 0-9 / _ -)'),
    lakePrefix: z.string().regex(/^[a-z0-9][a-z0-9/_-]*$/, 'an S3 key prefix (a-z 0-9 / _ -)'),
    windowDays: z.number().int().min(1).max(3650),
  }),
  producer: z.strictObject({
    labelDelayDays: z.number().min(0).max(365),
  }),
  pipeline: z.strictObject({
    taskQueues: z.strictObject({ workflow: z.string().min(1), cpu: z.string().min(1), gpu: z.string().min(1) }),
    gpus: z.number().int().min(1).max(64),
    gpuScheduleToStart: duration,
    trainingHeartbeatTimeout: duration,
    approval: z.strictObject({
      approvers: z.array(z.string().min(1)).min(1),
      timeout: duration,
      autoApprove: z.strictObject({
        enabled: z.boolean(),
        /** Level of the paired bootstrap's one-sided lower bound on the AP gain over the champion. */
        confidence: z.number().min(0.5).lt(1),
        /** The lower bound must exceed this (negative: a non-inferiority margin). */
        minAveragePrecisionGain: z.number().min(-1).max(1),
        maxEpsilon: z.number().positive(),
      }),
    }),
    schedule: z.strictObject({
      id: z.string().min(1),
      cron: z.string().min(9),
      days: z.number().int().min(1).max(365),
      catchupWindow: duration,
    }),
    training: z.strictObject({
      dp: z.boolean(),
      family: trainingEnums.family,
      balance: z.enum(['smote', 'class-weight', 'stratified', 'none']),
      optimizer: z.enum(['adam', 'sgd', 'adam-bc']),
      averaging: z.enum(['none', 'ema']),
      emaDecay: z.number().gt(0).lt(1),
      clipping: z.enum(['flat', 'automatic']),
      hidden: z.array(z.number().int().min(1).max(4096)).max(8),
      epochs: z.number().int().min(1).max(1000),
      learningRate: z.number().positive(),
      samplingRate: z.number().positive().max(1),
      clipNorm: z.number().positive(),
      /** family ebm (ml/ebm/family.ts EbmSettings); a key left out takes EBM_DEFAULTS of the run's privacy mode. */
      ebm: z
        .strictObject({
          rounds: z.number().int().min(1).max(10_000),
          learningRate: z.number().positive(),
          bins: z.number().int().min(2).max(1024),
          maxLeaves: z.number().int().min(2).max(1024),
          cardCap: z.number().positive(),
        })
        .partial()
        .optional(),
      checkpointEverySeconds: z.number().min(1),
      /** Train with the best hyper-parameters of a tuning search: its MLflow parent run id, or latest. */
      fromTuning: z
        .string()
        .regex(/^(latest|[0-9a-f]{32})$/, 'latest, or the MLflow run id of a tuning search (32 hex digits)')
        .optional(),
    }),
    retrain: z.strictObject({
      onLiveDrift: z.boolean(),
      livePsi: z.number().positive(),
      onQualityDrop: z.boolean(),
      period: z.string().regex(/^[1-9]\d*d$/, 'whole days, e.g. 1d or 7d'),
    }),
    workerMetricsPorts: z.strictObject({ cpu: port, gpu: port }),
    shutdownGraceSeconds: z.number().min(1).max(3600),
  }),
  tuning: z.strictObject({
    method: z.enum(['random']),
    trials: z.number().int().min(1).max(1000),
    concurrency: z.number().int().min(1).max(256),
    maximumAttempts: z.number().int().min(1).max(20),
    /** ε of each trial's DP training; default privacy.targetEpsilon. */
    epsilon: z.number().positive().optional(),
    /** data.source private: the search's own privacy (Papernot & Steinke; ml/tuning/private-search.ts). */
    private: z.strictObject({
      trialCount: z.enum(['poisson', 'geometric', 'logarithmic']),
      scoreNoiseMultiplier: z.number().positive().max(1000),
      k: z.number().int().min(1).max(100_000),
      delta: z.number().positive().max(0.1),
    }),
    data: z.strictObject({
      source: z.enum(['public', 'private']),
      seeds: z
        .array(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER))
        .min(1)
        .refine((seeds) => !seeds.includes(EVALUATION_SEED), `must not include ${EVALUATION_SEED}, the evaluation data's seed`),
      customers: z.number().int().min(10).max(1_000_000),
      days: z.number().int().min(1).max(3650),
    }),
    space: z.strictObject({
      family: choices(trainingEnums.family).optional(),
      learningRate: numberDimension().optional(),
      epochs: z.union([choices(z.number().int().min(1).max(1000)), logUniform(1000)]).optional(),
      clipNorm: numberDimension().optional(),
      samplingRate: numberDimension(1).optional(),
      hidden: choices(hiddenLayers).optional(),
      optimizer: choices(trainingEnums.optimizer).optional(),
      averaging: choices(trainingEnums.averaging).optional(),
      emaDecay: z.union([choices(z.number().gt(0).lt(1)), logUniform(0.9999)]).optional(),
      clipping: choices(trainingEnums.clipping).optional(),
      balance: choices(trainingEnums.balance).optional(),
      // family ebm: its own settings (ml/ebm/family.ts EbmSettings)
      'ebm.rounds': z.union([choices(z.number().int().min(1).max(10_000)), logUniform(10_000)]).optional(),
      'ebm.learningRate': numberDimension().optional(),
      'ebm.bins': z.union([choices(z.number().int().min(2).max(1024)), logUniform(1024)]).optional(),
      'ebm.maxLeaves': z.union([choices(z.number().int().min(2).max(1024)), logUniform(1024)]).optional(),
    }),
  }),
  privacy: z
    .strictObject({
      unit: z.enum(['transaction', 'card']),
      targetEpsilon: z.number().positive(),
      delta: z.number().positive().max(0.1),
      accountant: z.enum(['rdp', 'pld']),
      lifetimeEpsilon: z.number().positive(),
      lifetimePeriod: z.string().regex(/^[1-9]\d*d$/, 'a whole number of days (e.g. 365d)'),
      /** Of lifetimeEpsilon, the share the schedule leaves to tuning searches on private data. */
      tuningEpsilon: z.number().min(0),
    })
    .refine((p) => p.tuningEpsilon < p.lifetimeEpsilon, {
      message: 'must be below privacy.lifetimeEpsilon (the rest is the pipeline runs’ budget)',
      path: ['tuningEpsilon'],
    }),
  serving: z.strictObject({
    port,
    maxBatchRows: z.number().int().min(1).max(100_000),
    maxBodyKb: z.number().int().min(1).max(1_048_576),
    championPollSeconds: z.number().min(1),
  }),
  stream: z.strictObject({
    consumerGroup: z.string().min(1),
    metricsPort: port,
    reviewBand: z.number().positive().max(0.5),
  }),
  quality: z.strictObject({
    consumerGroup: z.string().min(1),
    metricsPort: port,
    joinWindowDays: z.number().positive().max(3650),
    keepDays: z.number().positive().max(3650),
    windowDays: z.number().int().min(1).max(365),
    minPositives: z.number().int().min(1),
    apMargin: z.number().min(0).max(1),
    refreshSeconds: z.number().min(0.1).max(3600),
    rollback: z.strictObject({ enabled: z.boolean() }),
  }),
  records: recordsSchema.default(HANDBOOK_RECORDS),
  validation: z.strictObject({
    maxFutureSeconds: z.number().min(0),
    maxBadRowFraction: z.number().min(0).max(1),
    drift: z.strictObject({
      psi: z.number().positive(),
      jensenShannon: z.number().positive().max(1),
      kolmogorovSmirnov: z.number().positive().max(1),
      hardLimit: z.strictObject({
        psi: z.number().positive(),
        jensenShannon: z.number().positive().max(1),
        kolmogorovSmirnov: z.number().positive().max(1),
      }),
    }),
  }),
});

const secretsSchema = z.object({
  S3_ACCESS_KEY: z.string().min(3),
  S3_SECRET_KEY: z.string().min(8),
  /** Bearer token of the API's approval endpoints. */
  API_TOKEN: z.string().min(16),
  /** HMAC key of records.pseudonymize; generated into .env on first use. */
  [PSEUDONYM_KEY_VARIABLE]: z.string().min(32).optional(),
});

export type Settings = z.infer<typeof settingsSchema>;
export type Secrets = z.infer<typeof secretsSchema>;
export interface Config extends Settings {
  /** The repository root: the stack's scripts and relative paths of the repository's config.yaml resolve against it. */
  root: string;
  /** The config file this config was loaded from (the repository's config.yaml or $FRAUDOPS_CONFIG). */
  file?: string;
  secrets: Secrets;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function valueAt(input: unknown, keyPath: PropertyKey[]): unknown {
  let node: unknown = input;
  for (const key of keyPath) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Keys that moved, old path → new path: a config still using the old one is told where the key lives now. */
const MOVED_KEYS: Record<string, string> = {
  'pipeline.training.targetEpsilon': 'privacy.targetEpsilon',
  'pipeline.training.delta': 'privacy.delta',
  'pipeline.training.accountant': 'privacy.accountant',
};

function describeIssues(source: string, input: unknown, error: z.ZodError): string {
  const lines = error.issues.flatMap((issue) => {
    const key = issue.path.map(String).join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((unknown) => {
        const full = [...issue.path.map(String), unknown].join('.');
        const moved = MOVED_KEYS[full];
        return moved
          ? `  ${full}: moved to ${moved} (the privacy settings have their own top-level block)`
          : `  ${full}: unknown key (allowed keys are listed in config.yaml)`;
      });
    }
    const value = valueAt(input, issue.path);
    const shown = value === undefined ? 'missing' : JSON.stringify(value);
    return `  ${key} = ${shown}: ${issue.message}`;
  });
  return `invalid ${source}:\n${lines.join('\n')}`;
}

/** Validates raw settings and secrets; exported for tests and for callers that build config in memory. */
export function parseConfig(
  rawSettings: unknown,
  rawSecrets: Record<string, string | undefined>,
  root: string,
  sources = { settings: 'config.yaml', secrets: '.env' },
): Config {
  const settings = settingsSchema.safeParse(rawSettings);
  if (!settings.success) throw new ConfigError(describeIssues(sources.settings, rawSettings, settings.error));
  const secrets = secretsSchema.safeParse(rawSecrets);
  if (!secrets.success) {
    // Never echo a secret's value, only its key and rule.
    const lines = secrets.error.issues.map(
      (issue) => `  ${issue.path.join('.')}: ${rawSecrets[String(issue.path[0])] === undefined ? 'missing' : issue.message}`,
    );
    throw new ConfigError(`invalid ${sources.secrets} (or environment):\n${lines.join('\n')}`);
  }
  const ports = portOwners(settings.data);
  if (ports) throw new ConfigError(`invalid ${sources.settings}:\n  ${ports}`);
  return { ...settings.data, root, secrets: secrets.data };
}

function portOwners(settings: Settings): string | undefined {
  const { temporal, kafka, s3, mlflow, redis } = settings.stack;
  const owners: Array<[string, number]> = [
    ['stack.temporal.port', temporal.port],
    ['stack.temporal.uiPort', temporal.uiPort],
    ['stack.kafka.port', kafka.port],
    ['stack.kafka.controllerPort', kafka.controllerPort],
    ['stack.s3.port', s3.port],
    ['stack.mlflow.port', mlflow.port],
    ['stack.redis.port', redis.port],
    ['stack.prometheus.port', settings.stack.prometheus.port],
    ['pipeline.workerMetricsPorts.cpu', settings.pipeline.workerMetricsPorts.cpu],
    ['pipeline.workerMetricsPorts.gpu', settings.pipeline.workerMetricsPorts.gpu],
    ['serving.port', settings.serving.port],
    ['stream.metricsPort', settings.stream.metricsPort],
    ['quality.metricsPort', settings.quality.metricsPort],
  ];
  const seen = new Map<number, string>();
  for (const [key, value] of owners) {
    const other = seen.get(value);
    if (other) return `${key} = ${value}: must differ from ${other}`;
    seen.set(value, key);
  }
  return undefined;
}

/** Values of `overlay` over `base`, object by object; anything else (a list, a number) is replaced whole. */
function overlay(base: unknown, over: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = overlay(base[key], value);
  return out;
}

function readYaml(file: string): unknown {
  if (!existsSync(file)) throw new ConfigError(`config file not found: ${file} (set FRAUDOPS_CONFIG or run from the project)`);
  try {
    return parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML: ${(err as Error).message}`);
  }
}

/**
 * Loads the repository's `config.yaml` and, when $FRAUDOPS_CONFIG names another file, that file as an overlay: its keys
 * replace the repository's, the rest keep their values (`records:` is replaced whole: a declaration is never merged
 * with the handbook's). Secrets come from the repository's `.env`, then a `.env` beside the overlay, then the process
 * environment; FRAUDOPS_TF_BACKEND overrides tensorflow.backend. A declaration that pseudonymizes gets its key
 * generated into the `.env` beside the config file on first use.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const root = projectRoot();
  const baseFile = path.join(root, 'config.yaml');
  const file = path.resolve(env.FRAUDOPS_CONFIG ?? baseFile);
  let raw = readYaml(baseFile);
  if (file !== baseFile) {
    const user = readYaml(file) ?? {};
    const userDir = (user as { stack?: { dir?: unknown } }).stack?.dir;
    if (typeof userDir === 'string') (user as { stack: { dir: string } }).stack.dir = path.resolve(path.dirname(file), userDir);
    const records = (user as { records?: unknown }).records;
    raw = overlay(raw, user);
    if (records !== undefined) (raw as Record<string, unknown>).records = records;
  }
  if (env.FRAUDOPS_TF_BACKEND && raw && typeof raw === 'object') {
    const tensorflow = (raw as Record<string, unknown>).tensorflow;
    (raw as Record<string, unknown>).tensorflow = { ...(tensorflow as object), backend: env.FRAUDOPS_TF_BACKEND };
  }
  const envFiles = [...new Set([path.join(root, '.env'), path.join(path.dirname(file), '.env')])];
  const fileSecrets = Object.assign({}, ...envFiles.filter(existsSync).map((f) => parseDotenv(readFileSync(f))));
  const secrets = { ...fileSecrets, ...pick(env, Object.keys(secretsSchema.shape)) };
  const config = parseConfig(raw, secrets, root, { settings: file, secrets: envFiles.join(' or ') });
  if (config.records.pseudonymize.length && !config.secrets[PSEUDONYM_KEY_VARIABLE]) {
    const key = newPseudonymKey();
    const envFile = envFiles[envFiles.length - 1];
    appendFileSync(
      envFile,
      `\n# generated on first use: the HMAC key of records.pseudonymize (keep it: a new key gives new pseudonyms)\n${PSEUDONYM_KEY_VARIABLE}=${key}\n`,
      { mode: 0o600 },
    );
    config.secrets[PSEUDONYM_KEY_VARIABLE] = key;
  }
  return { ...config, file };
}

function pick(env: NodeJS.ProcessEnv, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.flatMap((key) => (env[key] ? [[key, env[key] as string]] : [])));
}

/** privacy.lifetimePeriod ("365d") in days. */
export const lifetimePeriodDays = (privacy: Settings['privacy']) => Number.parseInt(privacy.lifetimePeriod, 10);

export type BackingService = 'temporal' | 'kafka' | 's3' | 'mlflow' | 'redis';

/** The host clients connect to for a backing service: its own `stack.<service>.host`, else stack.host. */
export function serviceHostOf(config: Settings, service: BackingService): string {
  return config.stack[service].host ?? config.stack.host;
}

/** The repository root: the directory above this module. */
export function projectRoot(): string {
  return path.resolve(__dirname, '..');
}
