// The serving model of a process (the API, the stream scorer): the registry's champion, hot-swapped when it changes.
// A change is noticed on the model-events topic and, as a fallback, by polling the champion alias. The new bundle is
// downloaded, verified, warmed up and swapped in with one reference assignment; the old model is disposed only after
// a grace period, so a caller that took it just before the swap can still finish with it. A bundle that fails
// verification or warm-up keeps the old model serving and is remembered, so it is not downloaded again and again.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { type Consumer, ensureTopics, type Kafka } from '../clients/kafka';
import type { MlflowClient, ModelVersion } from '../clients/mlflow';
import { bundleOfVersion, CHAMPION, type ModelEvent, RegistryError, VERSION_TAGS, versionTag } from '../clients/model-registry';
import type { S3 } from '../clients/s3';
import type { Config } from '../config';
import { BundleIntegrityError, type LoadedModel, loadBundle } from '../ml/bundle';
import type { Logger } from '../observability/log';

export interface ServingModel {
  version: string;
  loaded: LoadedModel;
  modelVersion: ModelVersion;
  loadedAt: string;
}

export interface ChampionWatcherDeps {
  config: Config;
  kafka: Kafka;
  mlflow: MlflowClient;
  s3: S3;
  log: Logger;
}

export interface ChampionWatcherOptions {
  /** The registered model; config.registry.modelName by default. */
  model?: string;
  /** config.topics.modelEvents by default. */
  modelEventsTopic?: string;
  /** config.serving.championPollSeconds by default. */
  pollSeconds?: number;
}

/** How long a replaced model stays usable: longer than any request or scoring batch may hold it. */
const DISPOSE_GRACE_MS = 30_000;
const GROUP_JOIN_TIMEOUT_MS = 20_000;

/** A bundle that must never serve (it failed verification or warm-up), as opposed to a transient download failure. */
class RejectedBundleError extends Error {
  override name = 'RejectedBundleError';
}

const isPermanent = (err: unknown): boolean =>
  err instanceof BundleIntegrityError || err instanceof RejectedBundleError || err instanceof RegistryError;

/** Emits 'swapped' (next: ServingModel, previous?: ServingModel) and 'rejected' (version: string, error: Error). */
export class ChampionWatcher extends EventEmitter {
  private serving: ServingModel | undefined;
  /** Bundle hashes (or `version:<n>` when a version has no hash tag) that failed: never loaded again by this process. */
  private readonly rejected = new Set<string>();
  private readonly retiring = new Map<NodeJS.Timeout, ServingModel>();
  private checking: Promise<void> | undefined;
  private checkAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private consumer: Consumer | undefined;
  private stopped = false;
  private readonly groupId = `fraudops-champion-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;

  private constructor(
    private readonly deps: ChampionWatcherDeps,
    readonly model: string,
    readonly topic: string,
    readonly pollSeconds: number,
  ) {
    super();
  }

  /** Loads the champion (when there is one), then listens for changes; resolves once both are in place. */
  static async start(deps: ChampionWatcherDeps, options: ChampionWatcherOptions = {}): Promise<ChampionWatcher> {
    const watcher = new ChampionWatcher(
      deps,
      options.model ?? deps.config.registry.modelName,
      options.modelEventsTopic ?? deps.config.topics.modelEvents,
      options.pollSeconds ?? deps.config.serving.championPollSeconds,
    );
    await watcher.check();
    watcher.pollTimer = setInterval(() => void watcher.check(), watcher.pollSeconds * 1000);
    watcher.pollTimer.unref();
    await watcher.subscribe();
    // A promotion announced between the first load and the subscription is caught here.
    await watcher.check();
    return watcher;
  }

  /** The model serving now; undefined until a verified champion is loaded. Take it once per request or batch. */
  current(): ServingModel | undefined {
    return this.serving;
  }

  /** Re-reads the champion alias and swaps when it changed; concurrent calls coalesce into one more check. */
  check(): Promise<void> {
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    this.checking = (async () => {
      try {
        do {
          this.checkAgain = false;
          await this.checkOnce().catch((err: Error) =>
            this.deps.log.error({ model: this.model, err: err.message, stack: err.stack }, 'champion check failed'),
          );
        } while (this.checkAgain && !this.stopped);
      } finally {
        this.checking = undefined;
      }
    })();
    return this.checking;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    await this.checking?.catch(() => undefined);
    if (this.consumer) {
      await this.consumer.disconnect().catch(() => undefined);
      await this.deleteGroup();
    }
    for (const [timer, model] of this.retiring) {
      clearTimeout(timer);
      model.loaded.dispose();
    }
    this.retiring.clear();
    this.serving?.loaded.dispose();
    this.serving = undefined;
  }

  private async checkOnce(): Promise<void> {
    if (this.stopped) return;
    const { mlflow, log } = this.deps;
    let version: ModelVersion | undefined;
    try {
      version = await mlflow.getVersionByAlias(this.model, CHAMPION);
    } catch (err) {
      log.warn({ model: this.model, err: (err as Error).message }, 'cannot read the champion alias; the current model keeps serving');
      return;
    }
    if (!version || version.version === this.serving?.version) return;
    const bundleId = versionTag(version, VERSION_TAGS.bundleSha256) ?? `version:${version.version}`;
    if (this.rejected.has(bundleId)) return;
    try {
      this.swap(version, await this.loadVerified(version));
    } catch (err) {
      const error = err as Error;
      if (!isPermanent(err)) {
        log.warn({ model: this.model, version: version.version, err: error.message }, 'champion bundle download failed; retrying later');
        return;
      }
      this.rejected.add(bundleId);
      log.error(
        { model: this.model, version: version.version, bundle: bundleId, err: error.message, serving: this.serving?.version ?? null },
        'champion bundle rejected; the current model keeps serving',
      );
      this.emit('rejected', version.version, error);
    }
  }

  /** Downloads, verifies (loadBundle checks every file against the manifest) and warms up the version's bundle. */
  private async loadVerified(version: ModelVersion): Promise<LoadedModel> {
    const { s3, config } = this.deps;
    const files = await bundleOfVersion(s3, config.stack.s3.bucket, version);
    const loaded = await loadBundle(files);
    try {
      // The first prediction compiles kernels and allocates; pay it here rather than in a request.
      const [score] = loaded.predict(new Float64Array(loaded.features.names.length), 1);
      if (!(score >= 0 && score <= 1)) throw new RejectedBundleError(`warm-up prediction is ${score}, not a score in [0, 1]`);
    } catch (err) {
      loaded.dispose();
      if (err instanceof RejectedBundleError) throw err;
      throw new RejectedBundleError(`warm-up prediction failed: ${(err as Error).message}`);
    }
    return loaded;
  }

  private swap(version: ModelVersion, loaded: LoadedModel): void {
    if (this.stopped) {
      loaded.dispose();
      return;
    }
    const next: ServingModel = { version: version.version, loaded, modelVersion: version, loadedAt: new Date().toISOString() };
    const previous = this.serving;
    this.serving = next;
    this.deps.log.info(
      { model: this.model, version: next.version, previous: previous?.version ?? null, bundle: loaded.manifest.bundleSha256 },
      'champion model swapped in',
    );
    if (previous) this.retire(previous);
    this.emit('swapped', next, previous);
  }

  private retire(model: ServingModel): void {
    const timer = setTimeout(() => {
      this.retiring.delete(timer);
      model.loaded.dispose();
    }, DISPOSE_GRACE_MS);
    timer.unref();
    this.retiring.set(timer, model);
  }

  /** Joins a group of its own at the latest offset: every process sees every event, none replays old ones. */
  private async subscribe(): Promise<void> {
    const { kafka, config, log } = this.deps;
    const consumer = kafka.consumer({ groupId: this.groupId, maxWaitTimeInMs: 500, sessionTimeout: 10_000, heartbeatInterval: 1000 });
    try {
      const admin = kafka.admin();
      await admin.connect();
      try {
        await ensureTopics(admin, [this.topic], config.stack.kafka.partitions);
      } finally {
        await admin.disconnect();
      }
      await consumer.connect();
      await consumer.subscribe({ topic: this.topic, fromBeginning: false });
      const joined = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, GROUP_JOIN_TIMEOUT_MS);
        consumer.on(consumer.events.GROUP_JOIN, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await consumer.run({ eachMessage: async ({ message }) => this.onEvent(message.value) });
      await joined;
      this.consumer = consumer;
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      log.warn(
        { topic: this.topic, err: (err as Error).message, pollSeconds: this.pollSeconds },
        'cannot listen to model events; relying on polling the champion alias',
      );
    }
  }

  private onEvent(value: Buffer | null): void {
    let event: Partial<ModelEvent> | undefined;
    try {
      event = JSON.parse(String(value));
    } catch {
      this.deps.log.warn({ topic: this.topic }, 'ignoring a model event that is not JSON');
      return;
    }
    // The event only says that something changed; the alias in the registry is the truth.
    if (event?.model === this.model) void this.check();
  }

  private async deleteGroup(): Promise<void> {
    const admin = this.deps.kafka.admin();
    try {
      await admin.connect();
      await admin.deleteGroups([this.groupId]);
    } catch {
      // A group left behind is harmless: Kafka expires it after offsets.retention.minutes.
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

/**
 * Why the champion cannot score rows of these inputs (it was trained under another records: declaration), or
 * undefined when it takes exactly them.
 */
export function inputMismatch(model: ServingModel, names: readonly string[]): string | undefined {
  const served = model.loaded.features.names;
  if (served.length === names.length && served.every((name, j) => name === names[j])) return undefined;
  return `the champion (version ${model.version}) takes the inputs ${served.join(', ')}, not those of the records: declaration`;
}
