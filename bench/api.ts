// POST /predict under autocannon: `fraudops serve`'s app and the same model behind FastAPI/uvicorn, in the same run.
// Prints one JSON object. Each server runs in a child process (one core) with the same bundle directory; autocannon
// runs here (the other core). Measured per server, after a warm-up: single-row requests at full speed and limited to
// 2000 req/s, and batches of 1000 rows. For fraudops, the share of the rate-limited requests the server itself handled
// within 1 ms and 5 ms (its own duration histogram) separates its time from the machine's.
// Ratios are fraudops / FastAPI for throughput and FastAPI / fraudops for latency: > 1 means fraudops is better.
// Python: $FRAUDOPS_TOOLS_PYTHON (default /tmp/venv-fastapi/bin/python) with tools/reference/fastapi-requirements.txt.
// Run: node --import tsx bench/api.ts [--duration <seconds per measurement, default 10>]
// (`--serve <bundle-dir>` is the child mode: the fraudops app on 127.0.0.1, with the bundle as its fixed champion.)
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createApp } from '../api/app';
import { createApiMetrics } from '../api/metrics';
import { createHttpServer } from '../api/server';
import { loadBundleFilesFromDir, saveBundleToDir } from '../clients/bundle-store';
import { loadConfig, projectRoot } from '../config';
import { loadBundle } from '../ml/bundle';
import { selectBackend } from '../ml/tensorflow';
import { createLogger } from '../observability/log';
import type { ServingModel } from '../serving/champion-watcher';
import { featuresObject, testBundle, testFeatureRows } from '../tests/api-model';

interface AutocannonOptions {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  connections: number;
  duration: number;
  overallRate?: number;
  ignoreCoordinatedOmission?: boolean;
}
interface Histogram {
  average: number;
  p50: number;
  p99: number;
}
interface AutocannonResult {
  requests: Histogram & { total: number };
  latency: Histogram;
  errors: number;
  timeouts: number;
  non2xx: number;
}
// autocannon ships no types; this is the part of its API used here.
const autocannon = require('autocannon') as (options: AutocannonOptions) => Promise<AutocannonResult>;

const PYTHON = process.env.FRAUDOPS_TOOLS_PYTHON ?? '/tmp/venv-fastapi/bin/python';
const FASTAPI_SERVER = path.join(projectRoot(), 'tools', 'reference', 'fastapi_server.py');
const BATCH_ROWS = 1000;
const TARGET_RATE = 2000;
const TARGETS = { singleP99Ms: 5, singleReqPerSec: 2000, batchRowsPerSec: 100_000 };

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

async function serveChild(bundleDir: string): Promise<void> {
  const config = loadConfig();
  const log = createLogger('api');
  await selectBackend(config.tensorflow.backend, (line) => log.info(line));
  const loaded = await loadBundle(await loadBundleFilesFromDir(bundleDir));
  const model: ServingModel = {
    version: 'bench',
    loaded,
    modelVersion: { name: 'bench', version: 'bench', creation_timestamp: Date.now(), source: bundleDir, status: 'READY' },
    loadedAt: new Date().toISOString(),
  };
  const champion = { current: () => model };
  const app = createApp({ config, champion, metrics: createApiMetrics(champion.current), log });
  const server = createHttpServer(app).listen(0, '127.0.0.1', () => {
    const address = server.address();
    log.info({ port: typeof address === 'object' ? address?.port : undefined }, 'bench server listening');
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not become healthy within ${timeoutMs / 1000} s`);
}

async function startFraudops(bundleDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--serve', bundleDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the fraudops bench server exited with code ${code}`)));
    // Reading every line also keeps the pipe drained.
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.includes('bench server listening')) resolve(JSON.parse(line).port);
    });
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child);
  return { url, child };
}

async function startFastapi(bundleDir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(PYTHON, [FASTAPI_SERVER, bundleDir, String(port)], { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child);
  return { url, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface Measured {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
}

async function load(url: string, body: string, options: { connections: number; duration: number; rate?: number }): Promise<Measured> {
  const result = await autocannon({
    url: `${url}/predict`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: options.connections,
    duration: options.duration,
    overallRate: options.rate,
    // autocannon's rate limiter sends each connection's per-second quota back to back, then waits for the next second;
    // its coordinated-omission correction assumes sends evenly spaced at 1/rate and adds synthetic samples for every
    // millisecond a response takes inside such a burst. Latencies here are those of the requests actually sent.
    ignoreCoordinatedOmission: options.rate !== undefined,
  });
  return {
    reqPerSec: round(result.requests.average, 0),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    failed: result.errors + result.timeouts + result.non2xx,
  };
}

/** Cumulative /predict 200 counts per histogram bound (seconds) of the fraudops server's own request-duration metric. */
async function serverDurations(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(
    /^fraudops_api_request_duration_seconds_bucket\{le="([^"]+)",method="POST",route="\/predict",status="200"\} (\d+)$/gm,
  )) {
    counts.set(match[1], Number(match[2]));
  }
  return counts;
}

/**
 * Share of the requests of a run that the server itself handled within 1 ms and 5 ms (from its histogram, read before
 * and after): time in the handler chain, without the wait in the socket or the client, so it shows where a tail comes from.
 */
function serverShares(before: Map<string, number>, after: Map<string, number>) {
  const total = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  const within = (le: string) => round(((after.get(le) ?? 0) - (before.get(le) ?? 0)) / total, 4);
  return { requests: total, within1Ms: within('0.001'), within5Ms: within('0.005') };
}

async function measure(url: string, duration: number, options: { serverHistogram: boolean }) {
  const rows = testFeatureRows(BATCH_ROWS, 3);
  const single = JSON.stringify({ features: featuresObject(rows, 0) });
  const batch = JSON.stringify({ transactions: Array.from({ length: BATCH_ROWS }, (_, i) => ({ features: featuresObject(rows, i) })) });
  await load(url, single, { connections: 10, duration: Math.min(3, duration) }); // warm-up (JIT, caches)
  const max = await load(url, single, { connections: 10, duration });
  const before = options.serverHistogram ? await serverDurations(url) : undefined;
  const atTarget: Measured & { serverSide?: ReturnType<typeof serverShares> } = await load(url, single, {
    connections: 10,
    duration,
    rate: TARGET_RATE,
  });
  if (before) atTarget.serverSide = serverShares(before, await serverDurations(url));
  const batched = await load(url, batch, { connections: 4, duration });
  const answer = (await (
    await fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: single })
  ).json()) as {
    score: number;
  };
  return {
    single: { max, [`at${TARGET_RATE}`]: atTarget },
    batch1000: { ...batched, rowsPerSec: batched.reqPerSec * BATCH_ROWS },
    score: answer.score,
  };
}

async function main(): Promise<void> {
  const durationArg = process.argv.indexOf('--duration');
  const duration = durationArg > 0 ? Number(process.argv[durationArg + 1]) : 10;
  const loadAverageAtStart = loadavg().map((l) => round(l));
  const config = loadConfig();
  const tfBackend = await selectBackend(config.tensorflow.backend, () => undefined);
  const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-bench-api-'));
  try {
    await saveBundleToDir(await testBundle(1), dir);
    const fraudopsServer = await startFraudops(dir);
    let fraudops: Awaited<ReturnType<typeof measure>>;
    try {
      fraudops = await measure(fraudopsServer.url, duration, { serverHistogram: true });
    } finally {
      await stop(fraudopsServer.child);
    }

    let fastapi: Awaited<ReturnType<typeof measure>> | { skipped: string };
    if (!existsSync(PYTHON)) {
      fastapi = {
        skipped: `no Python at ${PYTHON}: create it with python3 -m venv /tmp/venv-fastapi && /tmp/venv-fastapi/bin/pip install -r tools/reference/fastapi-requirements.txt (or set FRAUDOPS_TOOLS_PYTHON)`,
      };
    } else {
      const fastapiServer = await startFastapi(dir);
      try {
        fastapi = await measure(fastapiServer.url, duration, { serverHistogram: false });
      } finally {
        await stop(fastapiServer.child);
      }
    }

    const atTarget = fraudops.single[`at${TARGET_RATE}`];
    const ratio =
      'skipped' in fastapi
        ? null
        : {
            singleReqPerSec: round(fraudops.single.max.reqPerSec / fastapi.single.max.reqPerSec),
            singleP99AtTarget: round(fastapi.single[`at${TARGET_RATE}`].p99Ms / atTarget.p99Ms),
            batchRowsPerSec: round(fraudops.batch1000.rowsPerSec / fastapi.batch1000.rowsPerSec),
          };
    console.log(
      JSON.stringify(
        {
          bench: 'api',
          model: '15-32-16-1 MLP, fixed transform (tests/api-model.ts testBundle(1)), same bundle directory for both servers',
          // The machine is shared: a load average well above the core count means the figures are pessimistic.
          machine: {
            cpus: cpus().length,
            node: process.version,
            tfBackend,
            loadAverageAtStart,
            loadAverageAtEnd: loadavg().map((l) => round(l)),
          },
          durationSecondsPerMeasurement: duration,
          setup: {
            fraudops: 'createApp as `fraudops serve` builds it, one Node process',
            fastapi: 'tools/reference/fastapi_server.py: FastAPI + pydantic validation, numpy MLP, one uvicorn worker',
            load: `autocannon in the bench process; single: 10 connections at full speed, and 10 connections limited to ${TARGET_RATE} req/s (autocannon sends each second's quota in a burst; latency without coordinated-omission correction); batch: 4 connections × ${BATCH_ROWS} rows`,
          },
          fraudops: { single: fraudops.single, batch1000: fraudops.batch1000 },
          fastapi: 'skipped' in fastapi ? fastapi : { single: fastapi.single, batch1000: fastapi.batch1000 },
          sameScore: 'skipped' in fastapi ? null : Math.abs(fraudops.score - fastapi.score) <= 1e-6,
          ratio,
          targets: {
            singleP99AtTargetRateMs: { value: atTarget.p99Ms, target: TARGETS.singleP99Ms, met: atTarget.p99Ms <= TARGETS.singleP99Ms },
            singleReqPerSec: {
              value: fraudops.single.max.reqPerSec,
              target: TARGETS.singleReqPerSec,
              met: fraudops.single.max.reqPerSec >= TARGETS.singleReqPerSec && atTarget.reqPerSec >= TARGETS.singleReqPerSec * 0.98,
            },
            batchRowsPerSec: {
              value: fraudops.batch1000.rowsPerSec,
              target: TARGETS.batchRowsPerSec,
              met: fraudops.batch1000.rowsPerSec >= TARGETS.batchRowsPerSec,
            },
          },
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt > 0) void serveChild(process.argv[serveAt + 1]);
else void main();
