// The API's answers to bad requests (table-driven: every case has its status and message), and the basics of good
// ones, through createApp with an in-memory model. No services needed.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import pino from 'pino';
import { createApp } from '../../api/app';
import type { ApprovalDecider } from '../../api/approvals';
import { createApiMetrics } from '../../api/metrics';
import type { OnlineFeatures } from '../../api/predict';
import { createHttpServer } from '../../api/server';
import { loadConfig } from '../../config';
import { categoryBucket, featureSetOf } from '../../ml/feature-set';
import { FEATURE_COUNT, FEATURE_NAMES, type FeatureInput } from '../../ml/features';
import { selectBackend } from '../../ml/tensorflow';
import { pseudonymizer, RecordContract } from '../../records';
import type { ServingModel } from '../../serving/champion-watcher';
import { featuresObject, TEST_EPSILON, testFeatureRows, testServingModel } from '../api-model';
import { cardsDeclaration } from '../cards-feed';

const base = loadConfig();
const MAX_BATCH = 5;
const config = { ...base, serving: { ...base.serving, maxBatchRows: MAX_BATCH, maxBodyKb: 4 } };
const TOKEN = config.secrets.API_TOKEN;
const rows = testFeatureRows(8);
const features = featuresObject(rows, 0);
const transaction = { TRANSACTION_ID: 17, TX_DATETIME: '2026-03-01 10:20:30', CUSTOMER_ID: 4, TERMINAL_ID: 9, TX_AMOUNT: 31.5 };

interface Prediction {
  TRANSACTION_ID?: string;
  score: number;
  decision: string;
  features: Record<string, number>;
}

interface Answer extends Prediction {
  model_version: string;
  predictions: Prediction[];
  ready: boolean;
  error: string;
}

interface Case {
  name: string;
  method?: string;
  path?: string;
  /** A value is sent as JSON; a string is sent as it is. */
  body?: unknown;
  contentType?: string | null;
  headers?: Record<string, string>;
  status: number;
  error: RegExp;
  /** Expected problems, exactly (field and a pattern of the rule), when the answer lists them. */
  problems?: Array<[string, RegExp]>;
}

const withFeatures = (patch: Record<string, unknown>, drop: string[] = []) => {
  const out: Record<string, unknown> = { ...features, ...patch };
  for (const name of drop) delete out[name];
  return { features: out };
};
const auth = { authorization: `Bearer ${TOKEN}` };
const AMOUNT_BOUND = /must be a number in \[0, 100000\] \(records\.bounds\.amount\)/;
const decision = { version: '3', approver: 'alice', reason: 'beats the champion' };

const CASES: Case[] = [
  // Malformed or mistyped bodies
  { name: 'truncated JSON', body: '{"features": {', status: 400, error: /not valid JSON/, problems: [['(body)', /must be valid JSON/]] },
  { name: 'trailing garbage after JSON', body: '{"features": {}} x', status: 400, error: /not valid JSON/ },
  { name: 'single quotes are not JSON', body: "{'features': 1}", status: 400, error: /not valid JSON/ },
  { name: 'no Content-Type', body: JSON.stringify({ features }), contentType: null, status: 415, error: /Content-Type: application\/json/ },
  { name: 'text/plain body', body: JSON.stringify({ features }), contentType: 'text/plain', status: 415, error: /must be JSON/ },
  {
    name: 'unsupported charset',
    body: JSON.stringify({ features }),
    contentType: 'application/json; charset=latin1',
    status: 415,
    error: /charset/,
  },
  { name: 'body is an array', body: [features], status: 400, error: /invalid request/, problems: [['(body)', /must be a JSON object/]] },
  { name: 'body is a string', body: '"hello"', status: 400, error: /invalid request/, problems: [['(body)', /must be a JSON object/]] },
  { name: 'body is null', body: 'null', status: 400, error: /invalid request/, problems: [['(body)', /must be a JSON object/]] },
  { name: 'body is a number', body: '42', status: 400, error: /invalid request/, problems: [['(body)', /must be a JSON object/]] },
  // Explicit features
  {
    name: 'features is an array',
    body: { features: [1, 2] },
    status: 400,
    error: /1 problem/,
    problems: [['features', /must be an object of the 15 features/]],
  },
  {
    name: 'features is empty',
    body: { features: {} },
    status: 400,
    error: /15 problems/,
    problems: FEATURE_NAMES.map((n) => [`features.${n}`, /is required/]),
  },
  {
    name: 'one feature missing',
    body: withFeatures({}, ['TERMINAL_ID_RISK_30DAY_WINDOW']),
    status: 400,
    error: /TERMINAL_ID_RISK_30DAY_WINDOW is required/,
    problems: [['features.TERMINAL_ID_RISK_30DAY_WINDOW', /is required/]],
  },
  {
    name: 'feature as a string',
    body: withFeatures({ TX_AMOUNT: '12.5' }),
    status: 400,
    error: /invalid request/,
    problems: [['features.TX_AMOUNT', /must be a number \(got string\)/]],
  },
  {
    name: 'feature null',
    body: withFeatures({ TX_AMOUNT: null }),
    status: 400,
    error: /invalid request/,
    problems: [['features.TX_AMOUNT', /is required/]],
  },
  {
    name: 'feature boolean',
    body: withFeatures({ TX_DURING_NIGHT: true }),
    status: 400,
    error: /invalid request/,
    problems: [['features.TX_DURING_NIGHT', /must be a number \(got boolean\)/]],
  },
  {
    name: 'feature object',
    body: withFeatures({ TX_AMOUNT: { value: 1 } }),
    status: 400,
    error: /invalid request/,
    problems: [['features.TX_AMOUNT', /must be a number \(got object\)/]],
  },
  {
    name: 'negative amount',
    body: withFeatures({ TX_AMOUNT: -1 }),
    status: 400,
    error: /TX_AMOUNT must be a number in \[0, 100000\]/,
    problems: [['features.TX_AMOUNT', AMOUNT_BOUND]],
  },
  {
    name: 'amount overflows to Infinity',
    body: `{"features": ${JSON.stringify(features).replace(/"TX_AMOUNT":[0-9.]+/, '"TX_AMOUNT":1e999')}}`,
    status: 400,
    error: /invalid request/,
    problems: [['features.TX_AMOUNT', AMOUNT_BOUND]],
  },
  {
    name: 'average amount beyond the declared bound',
    body: withFeatures({ CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW: 1e308 }),
    status: 400,
    error: /invalid request/,
    problems: [['features.CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW', AMOUNT_BOUND]],
  },
  {
    name: 'weekend flag 2',
    body: withFeatures({ TX_DURING_WEEKEND: 2 }),
    status: 400,
    error: /invalid request/,
    problems: [['features.TX_DURING_WEEKEND', /must be 0 or 1/]],
  },
  {
    name: 'fractional count',
    body: withFeatures({ CUSTOMER_ID_NB_TX_1DAY_WINDOW: 1.5 }),
    status: 400,
    error: /invalid request/,
    problems: [['features.CUSTOMER_ID_NB_TX_1DAY_WINDOW', /must be an integer >= 0/]],
  },
  {
    name: 'negative terminal count',
    body: withFeatures({ TERMINAL_ID_NB_TX_7DAY_WINDOW: -3 }),
    status: 400,
    error: /invalid request/,
    problems: [['features.TERMINAL_ID_NB_TX_7DAY_WINDOW', /must be an integer >= 0/]],
  },
  {
    name: 'risk above 1',
    body: withFeatures({ TERMINAL_ID_RISK_7DAY_WINDOW: 1.2 }),
    status: 400,
    error: /invalid request/,
    problems: [['features.TERMINAL_ID_RISK_7DAY_WINDOW', /must be a number in \[0, 1\]/]],
  },
  {
    name: 'unknown feature',
    body: withFeatures({ TX_FRAUD: 1 }),
    status: 400,
    error: /invalid request/,
    problems: [['features.TX_FRAUD', /is not a feature of the model/]],
  },
  {
    name: 'unknown field beside features',
    body: { features, model: 'v2' },
    status: 400,
    error: /invalid request/,
    problems: [['model', /is not allowed \(an item with features has: features, TRANSACTION_ID\)/]],
  },
  {
    name: 'every failing field is listed at once',
    body: {
      features: { ...withFeatures({ TX_AMOUNT: 'x', TX_DURING_NIGHT: 5 }, ['CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW']).features, EXTRA: 1 },
      TRANSACTION_ID: -1,
    },
    status: 400,
    error: /5 problems/,
    problems: [
      ['TRANSACTION_ID', /must be a non-empty string .* or a whole number >= 0 below 2\^53/],
      ['features.TX_AMOUNT', /must be a number/],
      ['features.TX_DURING_NIGHT', /must be 0 or 1/],
      ['features.CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW', /is required/],
      ['features.EXTRA', /is not a feature/],
    ],
  },
  // Raw transactions
  {
    name: 'empty object (a transaction with nothing)',
    body: {},
    status: 400,
    error: /5 problems/,
    problems: ['TRANSACTION_ID', 'CUSTOMER_ID', 'TERMINAL_ID', 'TX_DATETIME', 'TX_AMOUNT'].map((f) => [f, /is required/]),
  },
  {
    name: 'date not in the calendar',
    body: { ...transaction, TX_DATETIME: '2026-02-30 10:00:00' },
    status: 400,
    error: /invalid request/,
    problems: [['TX_DATETIME', /must be a date and time 'YYYY-MM-DD HH:MM:SS' in UTC/]],
  },
  {
    name: 'ISO date with T and Z (not the declared format)',
    body: { ...transaction, TX_DATETIME: '2026-03-01T10:20:30Z' },
    status: 400,
    error: /invalid request/,
    problems: [['TX_DATETIME', /must be a date and time 'YYYY-MM-DD HH:MM:SS'/]],
  },
  {
    name: 'date as a number',
    body: { ...transaction, TX_DATETIME: 1767225600 },
    status: 400,
    error: /invalid request/,
    problems: [['TX_DATETIME', /must be a date and time/]],
  },
  {
    name: 'negative customer id',
    body: { ...transaction, CUSTOMER_ID: -4 },
    status: 400,
    error: /invalid request/,
    problems: [['CUSTOMER_ID', /must be a non-empty string .* or a whole number >= 0/]],
  },
  {
    name: 'fractional transaction id',
    body: { ...transaction, TRANSACTION_ID: 1.5 },
    status: 400,
    error: /invalid request/,
    problems: [['TRANSACTION_ID', /or a whole number >= 0/]],
  },
  {
    name: 'transaction id as a JSON number above 2^53 (digits already lost)',
    body: JSON.stringify(transaction).replace('"TRANSACTION_ID":17', '"TRANSACTION_ID":9007199254740993'),
    status: 400,
    error: /invalid request/,
    problems: [['TRANSACTION_ID', /below 2\^53 \(send longer numbers, e\.g\. card numbers, as strings\)/]],
  },
  {
    name: 'amount 1e308',
    body: { ...transaction, TX_AMOUNT: 1e308 },
    status: 400,
    error: /TX_AMOUNT must be a number in \[0, 100000\] \(records\.bounds\.amount\)/,
    problems: [['TX_AMOUNT', AMOUNT_BOUND]],
  },
  {
    name: 'label in a transaction',
    body: { ...transaction, TX_FRAUD: 0 },
    status: 400,
    error: /invalid request/,
    problems: [['TX_FRAUD', /must be absent: labels travel on the label topic/]],
  },
  {
    name: 'undeclared field in a transaction',
    body: { ...transaction, MERCHANT: 'x' },
    status: 400,
    error: /invalid request/,
    problems: [['MERCHANT', /is not a declared field \(records: TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT/]],
  },
  { name: 'valid transaction without a feature store', body: transaction, status: 503, error: /online feature store/ },
  // Batches
  {
    name: 'transactions is an object',
    body: { transactions: { features } },
    status: 400,
    error: /invalid request/,
    problems: [['transactions', /must be an array of 1 to 5 items/]],
  },
  {
    name: 'empty batch',
    body: { transactions: [] },
    status: 400,
    error: /invalid request/,
    problems: [['transactions', /must be an array of 1 to 5 items/]],
  },
  {
    name: 'batch over serving.maxBatchRows',
    body: { transactions: Array.from({ length: MAX_BATCH + 1 }, () => ({ features })) },
    status: 413,
    error: /at most 5 items \(serving.maxBatchRows\); got 6/,
    problems: [['transactions', /got 6/]],
  },
  {
    name: 'unknown field beside transactions',
    body: { transactions: [{ features }], dryRun: true },
    status: 400,
    error: /invalid request/,
    problems: [['dryRun', /is not allowed \(a batch has: transactions\)/]],
  },
  {
    name: 'batch item not an object',
    body: { transactions: [{ features }, 7] },
    status: 400,
    error: /invalid request/,
    problems: [['transactions[1]', /must be a JSON object/]],
  },
  {
    name: 'problems in several batch items, each with its path',
    body: { transactions: [withFeatures({ TX_AMOUNT: -2 }), { features }, { ...transaction, CUSTOMER_ID: true }] },
    status: 400,
    error: /2 problems/,
    problems: [
      ['transactions[0].features.TX_AMOUNT', AMOUNT_BOUND],
      ['transactions[2].CUSTOMER_ID', /must be a non-empty string/],
    ],
  },
  {
    name: 'body over serving.maxBodyKb',
    body: { transactions: [{ features, pad: 'x'.repeat(5000) }] },
    status: 413,
    error: /larger than 4 KB \(serving.maxBodyKb\)/,
  },
  // Routes and approvals
  { name: 'unknown route', method: 'GET', path: '/predictions', status: 404, error: /no route GET \/predictions/ },
  { name: 'GET on /predict', method: 'GET', path: '/predict', status: 404, error: /no route GET \/predict/ },
  {
    name: 'approval without a token',
    path: '/approvals/wf-1/approve',
    body: decision,
    status: 401,
    error: /valid bearer token is required/,
  },
  {
    name: 'approval with a wrong token',
    path: '/approvals/wf-1/approve',
    body: decision,
    headers: { authorization: 'Bearer not-the-token' },
    status: 401,
    error: /valid bearer token/,
  },
  {
    name: 'approval with a Basic credential',
    path: '/approvals/wf-1/reject',
    body: decision,
    headers: { authorization: `Basic ${TOKEN}` },
    status: 401,
    error: /valid bearer token/,
  },
  {
    name: 'approval with missing and empty fields',
    path: '/approvals/wf-1/approve',
    body: { version: 3, reason: ' ' },
    headers: auth,
    status: 400,
    error: /3 problems/,
    problems: [
      ['version', /must be a non-empty string/],
      ['approver', /is required/],
      ['reason', /must be a non-empty string/],
    ],
  },
  {
    name: 'approval with an unknown field',
    path: '/approvals/wf-1/reject',
    body: { ...decision, approve: true },
    headers: auth,
    status: 400,
    error: /invalid request/,
    problems: [['approve', /is not allowed/]],
  },
  {
    name: 'approval as a form',
    path: '/approvals/wf-1/approve',
    body: 'version=3',
    contentType: 'application/x-www-form-urlencoded',
    headers: auth,
    status: 415,
    error: /must be JSON/,
  },
  {
    name: 'approval of an unknown action',
    path: '/approvals/wf-1/maybe',
    body: decision,
    headers: auth,
    status: 404,
    error: /no route POST \/approvals\/wf-1\/maybe/,
  },
  {
    name: 'approval refused by the workflow validator',
    path: '/approvals/wf-refuse/approve',
    body: { ...decision, approver: 'mallory' },
    headers: auth,
    status: 409,
    error: /the workflow refused the decision: approver "mallory" is not in the configured approvers/,
  },
  {
    name: 'approval of an unknown workflow',
    path: '/approvals/wf-gone/reject',
    body: decision,
    headers: auth,
    status: 404,
    error: /no running workflow wf-gone/,
  },
];

/** The app on an ephemeral port, behind the server `fraudops serve` uses. */
async function listen(app: ReturnType<typeof createApp>): Promise<{ server: Server; url: string }> {
  const server = createHttpServer(app).listen(0);
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const postJson = (url: string, body: unknown) =>
  fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** Stands in for Temporal: throws what the client throws for a refused update and for an unknown workflow. */
const decided: Array<{ workflowId: string; input: unknown }> = [];
const approvals: ApprovalDecider = {
  async decide(workflowId, input) {
    if (workflowId === 'wf-refuse') {
      throw new WorkflowUpdateFailedError(
        'Workflow Update failed',
        new Error('approver "mallory" is not in the configured approvers (alice, bob)'),
      );
    }
    if (workflowId === 'wf-gone') throw new WorkflowNotFoundError('workflow not found', workflowId, undefined);
    decided.push({ workflowId, input });
    return {
      decision: input.approve ? 'approved' : 'rejected',
      version: input.version,
      approver: input.approver,
      reason: input.reason,
      via: 'update',
      decidedAt: '2026-01-01T00:00:00.000Z',
    };
  },
  async close() {},
};

describe('API: bad requests and the basics of good ones (in-memory model)', () => {
  let server: Server;
  let url: string;
  let model: ServingModel | undefined;
  let failNext: Error | undefined;
  const logLines: Array<Record<string, unknown>> = [];
  const peeked: FeatureInput[][] = [];
  const store: OnlineFeatures = {
    async lookup(txs) {
      peeked.push(txs);
      return { features: rows.slice(0, txs.length * FEATURE_COUNT), late: new Map(), rejected: new Map() };
    },
  };
  let withStore = false;

  before(async () => {
    await selectBackend('tensorflow', () => undefined);
    model = await testServingModel('7', 2);
    const champion = {
      current() {
        if (failNext) throw failNext;
        return model;
      },
    };
    const log = pino({ level: 'debug' }, { write: (line: string) => logLines.push(JSON.parse(line)) });
    const app = createApp({
      config,
      champion,
      metrics: createApiMetrics(() => champion.current()),
      log,
      approvals,
      get features() {
        return withStore ? store : undefined;
      },
    });
    ({ server, url } = await listen(app));
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    model?.loaded.dispose();
  });

  /** The JSON answer, typed loosely for assertions. */
  const answer = async (response: Response): Promise<Answer> => (await response.json()) as Answer;

  const send = (c: Pick<Case, 'method' | 'path' | 'body' | 'contentType' | 'headers'>) => {
    const method = c.method ?? 'POST';
    const headers: Record<string, string> = { ...c.headers };
    const contentType = c.contentType === undefined ? 'application/json' : c.contentType;
    let body: string | Blob | undefined;
    if (method === 'POST') {
      body = typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
      if (contentType) headers['content-type'] = contentType;
    }
    // A body sent without a content type would get text/plain from fetch; a Blob of no type sends none.
    if (method === 'POST' && contentType === null) body = new Blob([body as string]);
    return fetch(url + (c.path ?? '/predict'), { method, headers, body });
  };

  it(`has at least 30 bad-request cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 30);
  });

  for (const c of CASES) {
    it(`${c.status} ${c.name}`, async () => {
      const response = await send(c);
      const text = await response.text();
      assert.equal(response.status, c.status, text);
      assert.match(response.headers.get('content-type') ?? '', /application\/json/);
      assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      const body = JSON.parse(text);
      assert.match(body.error, c.error);
      assert.equal(body.request_id, response.headers.get('x-request-id'));
      assert.doesNotMatch(text, /\n\s+at |\.ts:\d+/, 'no stack trace');
      if (c.problems) {
        const got = (body.problems as Array<{ field: string; rule: string }>).map((p) => [p.field, p.rule]);
        assert.equal(got.length, c.problems.length, JSON.stringify(got));
        assert.equal(body.problem_count, c.problems.length);
        c.problems.forEach(([field, rule], i) => {
          assert.equal(got[i][0], field);
          assert.match(got[i][1], rule);
        });
      }
      if (c.status === 401) assert.equal(response.headers.get('www-authenticate'), 'Bearer');
    });
  }

  it('an approval with the token reaches the workflow update and answers its outcome', async () => {
    const response = await send({ path: '/approvals/wf-ok/reject', body: decision, headers: auth });
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    assert.deepEqual([body.workflow_id, body.decision, body.approver, body.via], ['wf-ok', 'rejected', 'alice', 'update']);
    assert.deepEqual(decided, [{ workflowId: 'wf-ok', input: { ...decision, approve: false } }]);
  });

  it('scores one {features} item like the model, at its threshold, echoing the features and the request id', async () => {
    const loaded = (model as ServingModel).loaded;
    const response = await send({ body: { features, TRANSACTION_ID: 5 }, headers: { 'x-request-id': 'req-abc.1' } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-request-id'), 'req-abc.1');
    const body = await answer(response);
    const [expected] = loaded.predict(rows.subarray(0, FEATURE_COUNT), 1);
    assert.ok(Math.abs(body.score - expected) <= 1e-6, `${body.score} vs ${expected}`);
    assert.equal(body.decision, body.score >= loaded.threshold ? 'fraud' : 'legit');
    assert.equal(body.model_version, '7');
    assert.equal(body.TRANSACTION_ID, '5');
    assert.deepEqual(body.features, features);
  });

  it('scores a batch in order, mixing {features} and raw transactions (features from the store)', async () => {
    withStore = true;
    try {
      const items = [{ features: featuresObject(rows, 3) }, transaction, { features: featuresObject(rows, 4) }];
      const response = await send({ body: { transactions: items } });
      const body = await answer(response);
      assert.equal(response.status, 200, JSON.stringify(body));
      assert.equal(body.model_version, '7');
      assert.equal(peeked.length, 1);
      assert.deepEqual(peeked[0], [
        { transactionId: '17', timestamp: Date.UTC(2026, 2, 1, 10, 20, 30) / 1000, customerId: '4', terminalId: '9', amount: 31.5 },
      ]);
      const used = new Float64Array([...rows.subarray(45, 60), ...rows.subarray(0, 15), ...rows.subarray(60, 75)]);
      const expected = (model as ServingModel).loaded.predict(used, 3);
      assert.equal(body.predictions.length, 3);
      body.predictions.forEach((p, i) => {
        assert.ok(Math.abs(p.score - expected[i]) <= 1e-6);
      });
      assert.equal(body.predictions[1].TRANSACTION_ID, '17');
      assert.deepEqual(body.predictions[1].features, featuresObject(rows, 0));
    } finally {
      withStore = false;
    }
  });

  it('GET /model gives version, metrics, ε and when it was trained; /health and /ready say ok', async () => {
    const info = (await (await send({ method: 'GET', path: '/model' })).json()) as {
      version: string;
      privacy: { epsilon: number };
      trained_at: string;
      metrics: { rocAuc: number };
      threshold: number;
      features: string[];
    };
    assert.equal(info.version, '7');
    assert.equal(info.privacy.epsilon, TEST_EPSILON);
    assert.equal(info.trained_at, '2026-01-01T00:00:02.000Z');
    assert.equal(info.metrics.rocAuc, 0.9);
    assert.equal(info.threshold, 0.5);
    assert.deepEqual(info.features, [...FEATURE_NAMES]);
    assert.deepEqual(await (await send({ method: 'GET', path: '/health' })).json(), { status: 'ok' });
    assert.deepEqual(await (await send({ method: 'GET', path: '/ready' })).json(), { ready: true, model_version: '7' });
  });

  it('/ready and /predict answer 503 until a model is loaded', async () => {
    const saved = model;
    model = undefined;
    try {
      const ready = await send({ method: 'GET', path: '/ready' });
      assert.equal(ready.status, 503);
      assert.equal((await answer(ready)).ready, false);
      const predict = await send({ body: { features } });
      assert.equal(predict.status, 503);
      assert.match((await answer(predict)).error, /no verified model is loaded yet/);
    } finally {
      model = saved;
    }
  });

  it('an unexpected error is a 500 naming the request id, never its message or stack; the log has both', async () => {
    failNext = new Error('secret detail of a bug');
    try {
      const response = await send({ body: { features }, headers: { 'x-request-id': 'bug-1' } });
      const text = await response.text();
      assert.equal(response.status, 500);
      assert.doesNotMatch(text, /secret detail|\n\s+at /);
      assert.match(JSON.parse(text).error, /internal error \(request id bug-1\)/);
      const line = logLines.find((l) => l.requestId === 'bug-1' && l.msg === 'unexpected error while handling a request');
      assert.ok(line, 'the error is logged with the request id');
      assert.match(String(line.stack), /secret detail of a bug\n\s+at /);
    } finally {
      failNext = undefined;
    }
  });

  it('/metrics exports request durations, predictions by decision, the model version and errors by kind', async () => {
    const text = await (await send({ method: 'GET', path: '/metrics' })).text();
    assert.match(text, /fraudops_api_request_duration_seconds_bucket\{[^}]*route="\/predict"[^}]*status="400"/);
    assert.match(text, /fraudops_api_model_info\{version="7",bundle_sha256="[0-9a-f]{64}"/);
    assert.match(text, /fraudops_api_errors_total\{kind="validation"\} \d+/);
    assert.match(text, /fraudops_api_errors_total\{kind="body-too-large"\} 1/);
    const scored = [...text.matchAll(/fraudops_api_predictions_total\{decision="(fraud|legit)"\} (\d+)/g)].reduce(
      (s, m) => s + Number(m[2]),
      0,
    );
    assert.equal(scored, 4, 'one single and one batch of three');
    assert.match(text, /fraudops_api_model_bundle_rejections_total/);
  });
});

// A card-transaction export's declaration, not the handbook's: hex / integer ids, card numbers as strings, ISO-8601
// times, extra columns, personal columns dropped, the card pseudonymized.
const PSEUDONYM_KEY = 'k'.repeat(32);
const cards = new RecordContract(
  cardsDeclaration({
    time: { column: 'trans_date_trans_time', format: 'iso8601' },
    columns: { category: 'categorical', city_pop: 'numeric' },
    bounds: { amount: [0, 5000] },
    drop: ['first', 'last'],
    pseudonymize: ['customer'],
  }),
  pseudonymizer(PSEUDONYM_KEY),
);
/** The declared columns' inputs of a {features} item: eight hashed category indicators and the city population. */
const cardExtras: Record<string, number> = {
  ...Object.fromEntries(Array.from({ length: 8 }, (_, b) => [`category#${b}`, b === 3 ? 1 : 0])),
  city_pop: 100,
};
const CARD = '4539578763621486123'; // 19 digits: beyond 2^53 as a number
const cardTx = {
  trans_num: '0b5a3c9f2e7d41aa',
  trans_date_trans_time: '2019-01-01T00:00:18+02:00',
  cc_num: CARD,
  merchant: 'fraud_Rippin, Kub and "Mann"',
  amt: 4.97,
  category: 'misc_net',
  city_pop: 3495,
};

describe('API with a declared record contract (card export: string ids, ISO-8601 times, extra and dropped columns)', () => {
  let server: Server;
  let url: string;
  let model: ServingModel;
  const metrics = createApiMetrics(() => model);
  const looked: FeatureInput[][] = [];
  /** Stands in for the store's event-time rules: ids starting 'late-' are 42 s late, 'old-' ones too late. */
  const store: OnlineFeatures = {
    async lookup(txs) {
      looked.push(txs);
      const late = new Map<number, number>();
      const rejected = new Map<number, string>();
      txs.forEach((tx, i) => {
        if (tx.transactionId.startsWith('late-')) late.set(i, 42);
        if (tx.transactionId.startsWith('old-'))
          rejected.set(
            i,
            `transaction ${tx.transactionId}: it is 900 s older than its card's latest transaction, more than records.lateness (300 s)`,
          );
      });
      return { features: rows.slice(0, txs.length * FEATURE_COUNT), late, rejected };
    },
  };

  before(async () => {
    await selectBackend('tensorflow', () => undefined);
    model = await testServingModel('4', 1, featureSetOf(cards.declaration));
    const app = createApp({
      config,
      champion: { current: () => model },
      metrics,
      log: pino({ level: 'silent' }),
      features: store,
      contract: cards,
    });
    ({ server, url } = await listen(app));
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    model.loaded.dispose();
  });

  it('scores the declared fields: string and integer ids kept as strings, ISO times, a dropped field ignored, the card pseudonymized', async () => {
    const items = [
      { ...cardTx, first: 'Jennifer', last: 'Banks' },
      { ...cardTx, trans_num: 12345, cc_num: '6011000990139424', trans_date_trans_time: '2019-01-01T00:00:19Z' },
      { features: { ...features, ...cardExtras }, trans_num: 'f-1' },
    ];
    const response = await postJson(url, { transactions: items });
    const body = (await response.json()) as { predictions: Array<Record<string, unknown>> };
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.deepEqual(
      body.predictions.map((p) => p.trans_num),
      ['0b5a3c9f2e7d41aa', '12345', 'f-1'],
    );
    const extras = Object.keys(body.predictions[0].features as object).slice(FEATURE_COUNT);
    assert.deepEqual(extras, Object.keys(cardExtras), 'the declared columns are inputs after the 15 features');
    const firstFeatures = body.predictions[0].features as Record<string, number>;
    assert.equal(firstFeatures.city_pop, 3495);
    assert.equal(firstFeatures[`category#${categoryBucket('misc_net', 8)}`], 1);
    const card = pseudonymizer(PSEUDONYM_KEY);
    assert.deepEqual(looked.at(-1), [
      {
        transactionId: '0b5a3c9f2e7d41aa',
        timestamp: Date.UTC(2018, 11, 31, 22, 0, 18) / 1000,
        customerId: card(CARD),
        terminalId: cardTx.merchant,
        amount: 4.97,
      },
      {
        transactionId: '12345',
        timestamp: Date.UTC(2019, 0, 1, 0, 0, 19) / 1000,
        customerId: card('6011000990139424'),
        terminalId: cardTx.merchant,
        amount: 4.97,
      },
    ]);
    const info = (await (await fetch(`${url}/model`)).json()) as { records: { id: string; time: { column: string; format: string } } };
    assert.deepEqual(
      [info.records.id, info.records.time.column, info.records.time.format],
      ['trans_num', 'trans_date_trans_time', 'iso8601'],
    );
  });

  it('refuses bad values naming the declared field and its rule: a time without offset, a card as a long JSON number, amount 1e308, an undeclared field', async () => {
    const items = [
      { ...cardTx, trans_date_trans_time: '2019-01-01 00:00:18' },
      { ...cardTx, cc_num: 0 },
      { ...cardTx, amt: 1e308 },
      { ...cardTx, street: '1 Main St' },
    ];
    const text = JSON.stringify({ transactions: items }).replace('"cc_num":0', `"cc_num":${CARD}`);
    const response = await postJson(url, text);
    const body = (await response.json()) as { error: string; problems: Array<{ field: string; rule: string }> };
    assert.equal(response.status, 400);
    const expected: Array<[string, RegExp]> = [
      ['transactions[0].trans_date_trans_time', /must be an ISO-8601 date and time with an offset or Z/],
      ['transactions[1].cc_num', /below 2\^53 \(send longer numbers, e\.g\. card numbers, as strings\)/],
      ['transactions[2].amt', /must be a number in \[0, 5000\] \(records\.bounds\.amount\)/],
      [
        'transactions[3].street',
        /is not a declared field \(records: trans_num, trans_date_trans_time, cc_num, merchant, amt, category, city_pop/,
      ],
    ];
    assert.equal(body.problems.length, expected.length, JSON.stringify(body.problems));
    expected.forEach(([field, rule], i) => {
      assert.equal(body.problems[i].field, field);
      assert.match(body.problems[i].rule, rule);
    });
    assert.doesNotMatch(JSON.stringify(body), new RegExp(CARD.slice(0, 12)), 'the card number is not echoed');
  });

  it('marks a transaction the store scored late (late, late_seconds, metric); one it refuses is a 400 naming the time field', async () => {
    const response = await postJson(url, { ...cardTx, trans_num: 'late-1' });
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.deepEqual([body.trans_num, body.late, body.late_seconds], ['late-1', true, 42]);
    assert.match(await metrics.registry.metrics(), /fraudops_api_late_transactions_total 1\b/);

    const refused = await postJson(url, { transactions: [cardTx, { ...cardTx, trans_num: 'old-1' }] });
    const answer = (await refused.json()) as { problems: Array<{ field: string; rule: string }> };
    assert.equal(refused.status, 400);
    assert.deepEqual(answer.problems, [
      {
        field: 'transactions[1].trans_date_trans_time',
        rule: "it is 900 s older than its card's latest transaction, more than records.lateness (300 s)",
      },
    ]);
  });
});
