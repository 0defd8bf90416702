// A thin typed client for the MLflow tracking server's REST API (2.0) and its artifact proxy.
// No maintained TypeScript MLflow client exists (DESIGN §2); this covers what fraudops uses.
import { type Config, serviceHostOf } from '../config';

export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
}

export interface RunInfo {
  run_id: string;
  experiment_id: string;
  run_name?: string;
  status: 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
  start_time?: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: string;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface Run {
  info: RunInfo;
  data: { metrics?: Metric[]; params?: KeyValue[]; tags?: KeyValue[] };
}

export interface ModelVersion {
  name: string;
  version: string;
  creation_timestamp: number;
  current_stage?: string;
  source: string;
  run_id?: string;
  status: 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION' | 'READY';
  tags?: KeyValue[];
  aliases?: string[];
}

export interface RegisteredModel {
  name: string;
  creation_timestamp: number;
  latest_versions?: ModelVersion[];
  aliases?: Array<{ alias: string; version: string }>;
  tags?: KeyValue[];
}

export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

/** An error answered by the server, with MLflow's error code (e.g. RESOURCE_DOES_NOT_EXIST). */
export class MlflowError extends Error {
  override name = 'MlflowError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly endpoint: string,
  ) {
    super(`MLflow ${endpoint} failed (${status} ${code}): ${message}`);
  }
}

type Query = Record<string, string | number | undefined>;

export class MlflowClient {
  private readonly base: string;

  constructor(
    trackingUri: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.base = trackingUri.replace(/\/+$/, '');
  }

  static fromConfig(config: Config): MlflowClient {
    return new MlflowClient(mlflowTrackingUri(config));
  }

  // --- plumbing -----------------------------------------------------------------------------

  private url(path: string, query?: Query): string {
    const url = new URL(this.base + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  private async request<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', endpoint: string, body?: object, query?: Query): Promise<T> {
    const response = await fetch(this.url(`/api/2.0/mlflow/${endpoint}`, query), {
      method,
      headers: body ? { 'content-type': 'application/json' } : undefined,
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) throw toError(response.status, text, endpoint);
    return (text ? JSON.parse(text) : {}) as T;
  }

  // --- server -------------------------------------------------------------------------------

  async health(): Promise<boolean> {
    try {
      const response = await fetch(this.url('/health'), { signal: AbortSignal.timeout(3000) });
      return response.ok;
    } catch {
      return false;
    }
  }

  async serverVersion(): Promise<string> {
    const response = await fetch(this.url('/version'), { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!response.ok) throw toError(response.status, await response.text(), 'version');
    return (await response.text()).trim();
  }

  // --- experiments and runs -----------------------------------------------------------------

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    try {
      const { experiment } = await this.request<{ experiment: Experiment }>('GET', 'experiments/get-by-name', undefined, {
        experiment_name: name,
      });
      return experiment;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async createExperiment(name: string, tags: Record<string, string> = {}): Promise<string> {
    const { experiment_id } = await this.request<{ experiment_id: string }>('POST', 'experiments/create', {
      name,
      tags: toKeyValues(tags),
    });
    return experiment_id;
  }

  /** Returns the experiment's id, creating it when absent (safe against a concurrent create). */
  async ensureExperiment(name: string): Promise<string> {
    const existing = await this.getExperimentByName(name);
    if (existing) return existing.experiment_id;
    try {
      return await this.createExperiment(name);
    } catch (err) {
      if (err instanceof MlflowError && err.code === 'RESOURCE_ALREADY_EXISTS') {
        const again = await this.getExperimentByName(name);
        if (again) return again.experiment_id;
      }
      throw err;
    }
  }

  async createRun(experimentId: string, options: { runName?: string; tags?: Record<string, string> } = {}): Promise<Run> {
    const { run } = await this.request<{ run: Run }>('POST', 'runs/create', {
      experiment_id: experimentId,
      run_name: options.runName,
      start_time: Date.now(),
      tags: toKeyValues(options.tags ?? {}),
    });
    return run;
  }

  async getRun(runId: string): Promise<Run> {
    const { run } = await this.request<{ run: Run }>('GET', 'runs/get', undefined, { run_id: runId });
    return run;
  }

  async searchRuns(experimentIds: string[], filter = '', maxResults = 100): Promise<Run[]> {
    const { runs } = await this.request<{ runs?: Run[] }>('POST', 'runs/search', {
      experiment_ids: experimentIds,
      filter,
      max_results: maxResults,
    });
    return runs ?? [];
  }

  /** Logs params, metrics and tags in one call (MLflow limits: 100 params, 1000 metrics, 100 tags). */
  async logBatch(
    runId: string,
    batch: {
      params?: Record<string, string | number | boolean>;
      metrics?: Record<string, number>;
      tags?: Record<string, string>;
      step?: number;
    },
  ): Promise<void> {
    const timestamp = Date.now();
    await this.request('POST', 'runs/log-batch', {
      run_id: runId,
      params: Object.entries(batch.params ?? {}).map(([key, value]) => ({ key, value: String(value) })),
      metrics: Object.entries(batch.metrics ?? {}).map(([key, value]) => ({ key, value, timestamp, step: batch.step ?? 0 })),
      tags: toKeyValues(batch.tags ?? {}),
    });
  }

  async setRunTag(runId: string, key: string, value: string): Promise<void> {
    await this.request('POST', 'runs/set-tag', { run_id: runId, key, value });
  }

  async finishRun(runId: string, status: 'FINISHED' | 'FAILED' | 'KILLED' = 'FINISHED'): Promise<void> {
    await this.request('POST', 'runs/update', { run_id: runId, status, end_time: Date.now() });
  }

  // --- artifacts (through the server's proxy: --serve-artifacts) ------------------------------

  private artifactUrl(run: RunInfo, artifactPath: string): string {
    const root = proxiedArtifactRoot(run.artifact_uri);
    const joined = [root, artifactPath].filter(Boolean).join('/');
    return this.url(`/api/2.0/mlflow-artifacts/artifacts/${joined.split('/').map(encodeURIComponent).join('/')}`);
  }

  async uploadArtifact(run: RunInfo, artifactPath: string, content: Buffer | Uint8Array | string): Promise<void> {
    const response = await fetch(this.artifactUrl(run, artifactPath), {
      method: 'PUT',
      body: typeof content === 'string' ? content : new Uint8Array(content),
      signal: AbortSignal.timeout(this.timeoutMs * 4),
    });
    if (!response.ok) throw toError(response.status, await response.text(), `artifacts PUT ${artifactPath}`);
  }

  async downloadArtifact(run: RunInfo, artifactPath: string): Promise<Buffer> {
    const response = await fetch(this.artifactUrl(run, artifactPath), { signal: AbortSignal.timeout(this.timeoutMs * 4) });
    if (!response.ok) throw toError(response.status, await response.text(), `artifacts GET ${artifactPath}`);
    return Buffer.from(await response.arrayBuffer());
  }

  async listArtifacts(run: RunInfo, artifactPath = ''): Promise<FileInfo[]> {
    const root = proxiedArtifactRoot(run.artifact_uri);
    const response = await fetch(
      this.url('/api/2.0/mlflow-artifacts/artifacts', { path: [root, artifactPath].filter(Boolean).join('/') }),
      { signal: AbortSignal.timeout(this.timeoutMs) },
    );
    if (!response.ok) throw toError(response.status, await response.text(), `artifacts list ${artifactPath}`);
    const { files } = (await response.json()) as { files?: FileInfo[] };
    return files ?? [];
  }

  // --- model registry -----------------------------------------------------------------------

  async getRegisteredModel(name: string): Promise<RegisteredModel | undefined> {
    try {
      const { registered_model } = await this.request<{ registered_model: RegisteredModel }>('GET', 'registered-models/get', undefined, {
        name,
      });
      return registered_model;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Creates the registered model when absent (idempotent). */
  async ensureRegisteredModel(name: string, description?: string): Promise<RegisteredModel> {
    const existing = await this.getRegisteredModel(name);
    if (existing) return existing;
    try {
      const { registered_model } = await this.request<{ registered_model: RegisteredModel }>('POST', 'registered-models/create', {
        name,
        description,
      });
      return registered_model;
    } catch (err) {
      if (err instanceof MlflowError && err.code === 'RESOURCE_ALREADY_EXISTS') {
        const again = await this.getRegisteredModel(name);
        if (again) return again;
      }
      throw err;
    }
  }

  async createModelVersion(
    name: string,
    source: string,
    options: { runId?: string; tags?: Record<string, string>; description?: string } = {},
  ): Promise<ModelVersion> {
    const { model_version } = await this.request<{ model_version: ModelVersion }>('POST', 'model-versions/create', {
      name,
      source,
      run_id: options.runId,
      description: options.description,
      tags: toKeyValues(options.tags ?? {}),
    });
    return model_version;
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const { model_version } = await this.request<{ model_version: ModelVersion }>('GET', 'model-versions/get', undefined, {
      name,
      version,
    });
    return model_version;
  }

  async searchModelVersions(filter: string, maxResults = 200): Promise<ModelVersion[]> {
    const { model_versions } = await this.request<{ model_versions?: ModelVersion[] }>('GET', 'model-versions/search', undefined, {
      filter,
      max_results: maxResults,
    });
    return model_versions ?? [];
  }

  async setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    await this.request('POST', 'model-versions/set-tag', { name, version, key, value });
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.request('POST', 'registered-models/alias', { name, alias, version });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.request('DELETE', 'registered-models/alias', { name, alias });
  }

  /** The version an alias points at, or undefined when the alias is not set. */
  async getVersionByAlias(name: string, alias: string): Promise<ModelVersion | undefined> {
    try {
      const { model_version } = await this.request<{ model_version: ModelVersion }>('GET', 'registered-models/alias', undefined, {
        name,
        alias,
      });
      return model_version;
    } catch (err) {
      // MLflow answers an unset alias with 400 INVALID_PARAMETER_VALUE "... alias X not found".
      if (isNotFound(err) || (err instanceof MlflowError && /alias .* not found/i.test(err.message))) return undefined;
      throw err;
    }
  }
}

export function mlflowTrackingUri(config: Config): string {
  return `http://${serviceHostOf(config, 'mlflow')}:${config.stack.mlflow.port}`;
}

/**
 * A run's artifact URI is `mlflow-artifacts:/<experiment>/<run>/artifacts` when the server proxies
 * artifacts; the proxy endpoint takes the part after the scheme.
 */
export function proxiedArtifactRoot(artifactUri: string): string {
  const match = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(artifactUri);
  if (!match) {
    throw new Error(`artifact URI ${artifactUri} is not served through the MLflow artifact proxy; start the server with --serve-artifacts`);
  }
  return match[1].replace(/\/+$/, '');
}

function toKeyValues(record: Record<string, string>): KeyValue[] {
  return Object.entries(record).map(([key, value]) => ({ key, value }));
}

function isNotFound(err: unknown): boolean {
  return err instanceof MlflowError && (err.code === 'RESOURCE_DOES_NOT_EXIST' || err.status === 404);
}

function toError(status: number, text: string, endpoint: string): MlflowError {
  try {
    const body = JSON.parse(text) as { error_code?: string; message?: string };
    return new MlflowError(status, body.error_code ?? 'UNKNOWN', body.message ?? text, endpoint);
  } catch {
    return new MlflowError(status, 'UNKNOWN', text.slice(0, 500), endpoint);
  }
}
