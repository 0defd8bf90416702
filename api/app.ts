// The Express app of `fraudops serve`, without a listening socket (tests drive it on an ephemeral port).
import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import type { Config } from '../config';
import type { Logger } from '../observability/log';
import { type FieldProblem, type RecordContract, recordContract } from '../records';
import type { ServingModel } from '../serving/champion-watcher';
import { type ApprovalDecider, approvalsRouter } from './approvals';
import { RequestError } from './errors';
import { jsonBody } from './json-body';
import type { ApiMetrics, ErrorKind } from './metrics';
import { featureRows, type OnlineFeatures, PredictRequestReader, score } from './predict';

export interface AppDeps {
  config: Config;
  /** The serving model (a ChampionWatcher, or a fixed model in tests). */
  champion: { current(): ServingModel | undefined };
  metrics: ApiMetrics;
  log: Logger;
  /** Features of raw transactions; without it only {features} items are scored. */
  features?: OnlineFeatures;
  /** The record contract raw transactions are read by; recordContract(config) by default. */
  contract?: RecordContract;
  /** Sends approval decisions to the pipeline workflow; without it the approval endpoints answer 503. */
  approvals?: ApprovalDecider;
}

/** At most this many problems are listed in a response (the count is always given). */
const MAX_PROBLEMS_LISTED = 1000;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request id (the caller's x-request-id when it is sane, else a new one), echoed; duration metric and a JSON log line. */
function observeRequests({ metrics, log }: AppDeps): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route?.path ?? 'unmatched';
      metrics.requestDuration.observe({ method: req.method, route, status: res.statusCode }, seconds);
      // Successful requests and probes log at debug: at thousands of requests a second an info line each would cost
      // more than the prediction (FRAUDOPS_LOG_LEVEL=debug shows them). Client errors log at info, 503 (no model yet)
      // at warn, others at error (the handler has already logged the cause with its stack).
      const status = res.statusCode;
      const probe = route === '/ready' || route === '/health';
      const level = status < 400 || probe ? 'debug' : status < 500 ? 'info' : status === 503 ? 'warn' : 'error';
      if (log.isLevelEnabled(level)) {
        log[level]({ requestId, method: req.method, path: req.path, status, ms: Math.round(seconds * 1e6) / 1000 }, 'request');
      }
    });
    next();
  };
}

/** Body-parser failures as client errors. */
function bodyError(err: { type?: string; status?: number; message?: string; limit?: number }): RequestError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return new RequestError(400, 'malformed-json', `the body is not valid JSON: ${err.message}`, [
        { field: '(body)', rule: 'must be valid JSON' },
      ]);
    case 'entity.too.large':
      return new RequestError(
        413,
        'body-too-large',
        `the body is larger than ${Math.round((err.limit ?? 0) / 1024)} KB (serving.maxBodyKb)`,
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new RequestError(415, 'unsupported-media-type', `${err.message}: send UTF-8 JSON`);
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new RequestError(400, 'malformed-json', `the body could not be read: ${err.message}`);
    default:
      return undefined;
  }
}

function errorBody(err: RequestError, requestId: string): object {
  const body: { error: string; request_id: string; problems?: FieldProblem[]; problem_count?: number } = {
    error: err.message,
    request_id: requestId,
  };
  if (err.problems.length) {
    body.problems = err.problems.slice(0, MAX_PROBLEMS_LISTED);
    body.problem_count = err.problems.length;
  }
  return body;
}

/** Every error ends here: a RequestError is answered as it says; anything else is a 500 without details. */
function handleErrors({ metrics, log }: AppDeps): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const requestId = String(res.locals.requestId);
    let known = err instanceof RequestError ? err : bodyError(err);
    if (known?.cause) log.warn({ requestId, err: (known.cause as Error).message }, known.message);
    if (!known) {
      log.error({ requestId, err: err?.message, stack: err?.stack }, 'unexpected error while handling a request');
      known = new RequestError(500, 'internal', `internal error (request id ${requestId}); the server log has the details`);
    }
    metrics.errors.inc({ kind: known.kind satisfies ErrorKind });
    if (known.status === 401) res.setHeader('www-authenticate', 'Bearer');
    if (res.headersSent) return void res.end();
    res.status(known.status).json(errorBody(known, requestId));
  };
}

function modelOrUnavailable(deps: AppDeps): ServingModel {
  const model = deps.champion.current();
  if (!model) throw new RequestError(503, 'no-model', 'no verified model is loaded yet; see GET /ready');
  return model;
}

/** What a client sends for a raw transaction: the declared fields (config records:). */
function describeRecords({ declaration: d }: RecordContract): object {
  return {
    id: d.id,
    time: d.time,
    customer: d.customer,
    terminal: d.terminal,
    amount: d.amount,
    columns: Object.fromEntries(d.columns.map((c) => [c.name, c.kind])),
    bounds: d.bounds,
    lateness_seconds: d.latenessSeconds,
    max_future_seconds: d.maxFutureSeconds,
  };
}

function describeModel(deps: AppDeps, model: ServingModel, contract: RecordContract): object {
  const { loaded, modelVersion } = model;
  const { privacy } = loaded;
  const guarantee = privacy.perRecord ?? privacy.perExample;
  return {
    model: modelVersion.name,
    version: model.version,
    bundle_sha256: loaded.manifest.bundleSha256,
    trained_at: loaded.manifest.createdAt,
    registered_at: new Date(modelVersion.creation_timestamp).toISOString(),
    loaded_at: model.loadedAt,
    run_id: modelVersion.run_id ?? null,
    threshold: loaded.threshold,
    features: loaded.features.names,
    label_delay_days: loaded.features.labelDelayDays,
    transform: loaded.transform.kind,
    metrics: loaded.metrics,
    privacy: {
      differentially_private: privacy.training !== null,
      covered: privacy.covered,
      epsilon: guarantee?.epsilon ?? null,
      delta: guarantee?.delta ?? null,
      statement: guarantee?.statement ?? null,
      reasons: privacy.reasons,
    },
    serving: { max_batch_rows: deps.config.serving.maxBatchRows },
    records: describeRecords(contract),
  };
}

export function createApp(deps: AppDeps): express.Express {
  const { config, champion, metrics } = deps;
  const contract = deps.contract ?? recordContract(config);
  const { id: idField, time } = contract.declaration;
  const requests = new PredictRequestReader(contract, config.serving.maxBatchRows);
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  app.use(observeRequests(deps));
  app.post('/predict', ...jsonBody(config.serving.maxBodyKb), async (req, res) => {
    const request = requests.read(req.body);
    const features = await featureRows(request, deps.features, time.column);
    const model = modelOrUnavailable(deps);
    const scored = score(model, request, features, idField);
    if (features.late.size) metrics.lateTransactions.inc(features.late.size);
    if (scored.frauds) metrics.predictions.inc({ decision: 'fraud' }, scored.frauds);
    const legit = scored.predictions.length - scored.frauds;
    if (legit) metrics.predictions.inc({ decision: 'legit' }, legit);
    const { version, predictions } = scored;
    res.json(request.batch ? { model_version: version, predictions } : { ...predictions[0], model_version: version });
  });

  app.get('/model', (_req, res) => {
    res.json(describeModel(deps, modelOrUnavailable(deps), contract));
  });
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/ready', (_req, res) => {
    const model = champion.current();
    if (model) res.json({ ready: true, model_version: model.version });
    else res.status(503).json({ ready: false, reason: 'no verified model is loaded yet' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use('/approvals', approvalsRouter(config, deps.approvals));

  app.use((req) => {
    throw new RequestError(404, 'not-found', `no route ${req.method} ${req.path}`);
  });
  app.use(handleErrors(deps));
  return app;
}
