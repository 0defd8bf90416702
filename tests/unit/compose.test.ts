// No Docker engine runs here, so docker-compose.yml and the Prometheus and Grafana files it mounts are
// checked statically (promtool checks the alert rules in tests/integration/deploy-tools.test.ts).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfig, projectRoot } from '../../config';
import { renderedFiles, SERVICE_HOSTS } from '../../deploy/render-config';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';
import { trainingPipeline } from '../../workflows';

interface ComposeService {
  image?: string;
  build?: string | { context: string; dockerfile: string; target?: string };
  command?: string[];
  profiles?: string[];
  ports?: string[];
  healthcheck?: { test: string[] | string };
  volumes?: string[];
  environment?: Record<string, string | number>;
  restart?: string;
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver: string; count: number; capabilities: string[] }> } } };
}

const root = projectRoot();
const readYaml = (...parts: string[]) => parse(readFileSync(path.join(root, ...parts), 'utf8'), { merge: true });
const compose = readYaml('docker-compose.yml') as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const settings = readYaml('config.yaml');
const containerSettings = readYaml('deploy', 'config.yaml');

/** The fraudops processes of the compose file and the command each runs. */
const APP_COMMANDS: Record<string, string[]> = {
  api: ['serve'],
  'worker-cpu': ['worker', 'cpu'],
  'worker-gpu': ['worker', 'gpu'],
  scorer: ['score-stream'],
  'quality-monitor': ['quality-monitor'],
  producer: ['produce', '--simulate'],
  schedule: ['schedule', 'create'],
};

/** Where each long-running process answers HTTP, from config.yaml. */
const APP_PORTS: Record<string, number> = {
  api: settings.serving.port,
  'worker-cpu': settings.pipeline.workerMetricsPorts.cpu,
  'worker-gpu': settings.pipeline.workerMetricsPorts.gpu,
  scorer: settings.stream.metricsPort,
  'quality-monitor': settings.quality.metricsPort,
};

/**
 * Every fraudops_* metric the code declares with prom-client (`name: 'fraudops_…'` in api/ and stream/), with its
 * label names: the only fraudops_* names the alert rules and dashboards may query.
 */
function declaredMetrics(): Map<string, string[]> {
  const declared = new Map<string, string[]>();
  for (const dir of ['api', 'stream']) {
    for (const file of readdirSync(path.join(root, dir)).filter((name) => name.endsWith('.ts'))) {
      const source = readFileSync(path.join(root, dir, file), 'utf8');
      // Each declaration lists name, then (optionally) labelNames, then registers.
      for (const [, name, body] of source.matchAll(/name: '(fraudops_[a-z_]+)',([\s\S]*?)registers/g)) {
        const labelNames = /labelNames: \[([^\]]*)\]/.exec(body)?.[1] ?? '';
        declared.set(name, labelNames.match(/[a-z_]+/g) ?? []);
      }
    }
  }
  return declared;
}

/**
 * Worker metrics of the Temporal SDK runtime's Prometheus exporter (sdk-core telemetry, as @temporalio/worker 1.24
 * serves them by default): counters without a _total suffix, histograms in milliseconds without a unit suffix.
 */
const TEMPORAL_SDK_METRICS = {
  histograms: [
    'temporal_workflow_endtoend_latency',
    'temporal_workflow_task_schedule_to_start_latency',
    'temporal_workflow_task_execution_latency',
    'temporal_workflow_task_replay_latency',
    'temporal_activity_schedule_to_start_latency',
    'temporal_activity_execution_latency',
    'temporal_activity_succeed_endtoend_latency',
    'temporal_local_activity_execution_latency',
    'temporal_request_latency',
    'temporal_long_request_latency',
  ],
  others: [
    'temporal_workflow_completed',
    'temporal_workflow_failed',
    'temporal_workflow_canceled',
    'temporal_workflow_continue_as_new',
    'temporal_workflow_task_execution_failed',
    'temporal_workflow_task_queue_poll_succeed',
    'temporal_workflow_task_queue_poll_empty',
    'temporal_activity_execution_failed',
    'temporal_activity_task_received',
    'temporal_activity_poll_no_task',
    'temporal_worker_start',
    'temporal_worker_task_slots_available',
    'temporal_worker_task_slots_used',
    'temporal_num_pollers',
    'temporal_sticky_cache_size',
    'temporal_request',
    'temporal_request_failure',
  ],
  labels: ['namespace', 'task_queue', 'workflow_type', 'activity_type', 'worker_type', 'service_name'],
};

/** Labels Prometheus gives every scraped series (the job and target of prometheus.yml). */
const TARGET_LABELS = ['job', 'instance'];

/** The labels a queried series can have, or undefined for a metric no process exports. */
function labelsOf(series: string, declared: Map<string, string[]>): string[] | undefined {
  if (series.startsWith('temporal_')) {
    const { histograms, others, labels } = TEMPORAL_SDK_METRICS;
    const histogram = histograms.find((name) => series.startsWith(name) && /^(_bucket|_count|_sum)?$/.test(series.slice(name.length)));
    if (histogram) return [...labels, ...TARGET_LABELS, ...(series.endsWith('_bucket') ? ['le'] : [])];
    return others.includes(series) ? [...labels, ...TARGET_LABELS] : undefined;
  }
  const suffix = /_(bucket|count|sum)$/.exec(series)?.[0];
  const labels = declared.get(series) ?? (suffix ? declared.get(series.slice(0, -suffix.length)) : undefined);
  return labels && [...labels, ...TARGET_LABELS, ...(suffix === '_bucket' ? ['le'] : [])];
}

/**
 * Problems of one PromQL expression: fraudops_* or temporal_* metrics no process exports, label matchers on labels
 * their metric lacks, and by/on clauses naming a label none of the expression's metrics has.
 */
function queryProblems(expr: string, declared: Map<string, string[]>): string[] {
  const problems: string[] = [];
  const available = new Set<string>();
  for (const [, series, matchers] of expr.matchAll(/\b((?:fraudops|temporal)_[a-z_]+)(?:\{([^}]*)\})?/g)) {
    const labels = labelsOf(series, declared);
    if (!labels) {
      problems.push(`${series} is exported by no process`);
      continue;
    }
    for (const label of labels) available.add(label);
    for (const [, label] of (matchers ?? '').matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)) {
      if (!labels.includes(label)) problems.push(`${series} has no label ${label}`);
    }
  }
  if (/\bup\{/.test(expr)) for (const label of TARGET_LABELS) available.add(label);
  for (const [, list] of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    for (const label of list.match(/[a-z_]+/g) ?? []) {
      if (!available.has(label)) problems.push(`no metric of the expression has the label ${label}`);
    }
  }
  return problems;
}

const seconds = (duration: string) => {
  const match = /^(\d+)(s|m)$/.exec(duration);
  assert.ok(match, `unsupported duration ${duration}`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
};

describe('docker-compose.yml', () => {
  it('has every service of DESIGN §2', () => {
    for (const name of [
      'temporal',
      'temporal-postgresql',
      'temporal-ui',
      'kafka',
      'seaweedfs',
      'mlflow',
      'redis',
      'prometheus',
      'grafana',
    ]) {
      assert.ok(services[name], `missing service ${name}`);
      assert.ok(services[name].image || services[name].build, `${name} has no image`);
    }
  });

  it('publishes the same ports as the local stack', () => {
    const published = Object.fromEntries(
      Object.entries(services).flatMap(([name, service]) => (service.ports ?? []).map((port) => [port.split(':')[0], name])),
    );
    assert.deepEqual(
      {
        7233: published[7233],
        8233: published[8233],
        9092: published[9092],
        8333: published[8333],
        5000: published[5000],
        6379: published[6379],
      },
      { 7233: 'temporal', 8233: 'temporal-ui', 9092: 'kafka', 8333: 'seaweedfs', 5000: 'mlflow', 6379: 'redis' },
    );
    assert.equal(published[9090], 'prometheus');
    assert.equal(published[3000], 'grafana');
  });

  it('health-checks every long-running service, and waits on health (or completion of a one-shot job) where it depends', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.restart !== 'no') assert.ok(service.healthcheck?.test, `${name} has no healthcheck`);
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        assert.ok(services[dependency], `${name} depends on unknown ${dependency}`);
        const expected = services[dependency].restart === 'no' ? 'service_completed_successfully' : 'service_healthy';
        assert.equal(condition, expected, `${name} -> ${dependency}`);
      }
    }
  });

  it('keeps data in declared named volumes and mounts only files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('.')) assert.ok(existsSync(path.join(root, source)), `${name} mounts missing ${source}`);
        else assert.ok(source in compose.volumes, `${name} uses undeclared volume ${source}`);
      }
    }
  });

  it('holds no secret: every password or key comes from the environment', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (/PASSWORD|PWD|SECRET|ACCESS_KEY|TOKEN/.test(key))
          assert.match(String(value), /^\$\{[A-Z0-9_]+(:\?[^}]*)?\}$/, `${name}.${key}`);
      }
    }
  });

  it('registers the same search attributes as the local dev server', () => {
    const script = readFileSync(path.join(root, 'deploy', 'temporal', 'create-search-attributes.sh'), 'utf8');
    const listed = /for attr in ([^;]+);/.exec(script)?.[1].trim().split(/\s+/) ?? [];
    assert.deepEqual(
      listed.sort(),
      Object.entries(SEARCH_ATTRIBUTES)
        .map(([name, type]) => `${name}=${type}`)
        .sort(),
    );
  });

  it('runs every fraudops process from the app image with its command and the container config', () => {
    for (const [name, command] of Object.entries(APP_COMMANDS)) {
      const service = services[name];
      assert.ok(service, `missing service ${name}`);
      assert.deepEqual(service.command?.slice(0, command.length), command, `${name} command`);
      assert.ok(typeof service.build === 'object' && service.build.dockerfile === 'deploy/app/Dockerfile', `${name} build`);
      assert.equal(service.environment?.FRAUDOPS_CONFIG, '/etc/fraudops/config.yaml', `${name} FRAUDOPS_CONFIG`);
      assert.ok(service.volumes?.includes('./deploy/config.yaml:/etc/fraudops/config.yaml:ro'), `${name} mounts deploy/config.yaml`);
      for (const secret of ['S3_ACCESS_KEY', 'S3_SECRET_KEY', 'API_TOKEN'])
        assert.ok(service.environment?.[secret], `${name} lacks ${secret}`);
    }
  });

  it('runs MLflow on its own PostgreSQL backend store (with the driver in its image), the password from .env', () => {
    const mlflow = services.mlflow;
    assert.equal(
      mlflow.environment?.MLFLOW_BACKEND_STORE_URI,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's interpolation, not a JavaScript template
      'postgresql://mlflow:${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD in .env}@mlflow-postgresql:5432/mlflow',
    );
    assert.ok(!(mlflow.command ?? []).some((arg) => /backend-store-uri|sqlite/.test(arg)), 'no SQLite store');
    assert.deepEqual(mlflow.depends_on?.['mlflow-postgresql'], { condition: 'service_healthy' });
    const postgresql = services['mlflow-postgresql'];
    assert.match(postgresql.image ?? '', /^postgres:\d+/);
    assert.deepEqual([postgresql.environment?.POSTGRES_USER, postgresql.environment?.POSTGRES_DB], ['mlflow', 'mlflow']);
    assert.ok(
      postgresql.volumes?.some((volume) => volume.startsWith('mlflow-postgresql:')),
      'its data in a named volume',
    );
    const dockerfile = readFileSync(path.join(root, 'deploy', 'mlflow', 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /pip install .*psycopg2-binary==\d/);
    assert.match(readFileSync(path.join(root, '.env.example'), 'utf8'), /^MLFLOW_DB_PASSWORD=/m);
  });

  it('builds the GPU worker from the gpu target with an NVIDIA device reservation, outside the default profile', () => {
    const gpu = services['worker-gpu'];
    assert.equal(typeof gpu.build === 'object' && gpu.build.target, 'gpu');
    assert.notEqual(gpu.image, services['worker-cpu'].image);
    const devices = gpu.deploy?.resources?.reservations?.devices ?? [];
    assert.deepEqual(devices, [{ driver: 'nvidia', count: settings.pipeline.gpus, capabilities: ['gpu'] }]);
    assert.deepEqual(gpu.profiles, ['gpu']);
    for (const name of ['api', 'worker-cpu', 'scorer']) assert.equal(services[name].profiles, undefined, `${name} runs by default`);
    assert.deepEqual(gpu.command, ['worker', 'gpu'], 'no --allow-cpu: without a GPU the worker refuses to start');
  });

  it('health-checks each process on its configured port and gives it the shutdown grace', () => {
    for (const [name, port] of Object.entries(APP_PORTS)) {
      const test = [services[name].healthcheck?.test ?? []].flat().join(' ');
      assert.match(test, new RegExp(`http://127\\.0\\.0\\.1:${port}/`), `${name} healthcheck port`);
      assert.ok(seconds(services[name].stop_grace_period ?? '10s') > settings.pipeline.shutdownGraceSeconds, `${name} stop_grace_period`);
    }
    assert.match([services.api.healthcheck?.test].flat().join(' '), /\/health'/);
    assert.ok(services.api.ports?.includes(`${settings.serving.port}:${settings.serving.port}`));
  });
});

/** The stages of a Dockerfile: name (or index), base, and its instructions with continuation lines joined. */
function dockerStages(text: string): { args: Map<string, string>; stages: Map<string, { from: string; lines: string[] }> } {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const args = new Map<string, string>();
  const stages = new Map<string, { from: string; lines: string[] }>();
  let current: { from: string; lines: string[] } | undefined;
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) {
      current = { from: from[1], lines: [] };
      stages.set(from[2] ?? String(stages.size), current);
    } else if (current) current.lines.push(line);
    else {
      const arg = /^ARG\s+(\w+)=(\S+)$/.exec(line);
      if (arg) args.set(arg[1], arg[2]);
    }
  }
  return { args, stages };
}

describe('deploy/app/Dockerfile (checked statically: no Docker engine here)', () => {
  const dockerfile = readFileSync(path.join(root, 'deploy', 'app', 'Dockerfile'), 'utf8');
  const { args, stages } = dockerStages(dockerfile);
  const stage = (name: string) => {
    const found = stages.get(name);
    assert.ok(found, `no stage ${name}`);
    return found;
  };
  /** The image a stage starts from, through the stages it builds on. */
  const baseImage = (name: string): string => {
    const from = stage(name).from;
    if (stages.has(from)) return baseImage(from);
    return from.replace(/^\$\{(\w+)\}$/, (_, arg: string) => args.get(arg) ?? `\${${arg}}`);
  };
  /** The stage whose node_modules a target copies. */
  const nodeModulesFrom = (name: string) => {
    const copy = stage(name).lines.find((line) => /^COPY --from=\S+ \/app\/node_modules node_modules$/.test(line));
    assert.ok(copy, `${name} copies no node_modules`);
    return /--from=(\S+)/.exec(copy)?.[1] as string;
  };
  const installs = (name: string) => stage(name).lines.filter((line) => line.includes('stack/install-tfjs-node.sh'));

  it('builds the gpu target on an nvidia/cuda base, with the binding compiled on that same base', () => {
    assert.match(baseImage('gpu'), /^nvidia\/cuda:\d+\.\d+(\.\d+)?-\w+-ubuntu\d/);
    const builder = nodeModulesFrom('gpu');
    assert.equal(baseImage(builder), baseImage('gpu'), 'glibc and libstdc++ of the build and the runtime agree');
    assert.equal(installs(builder).length, 1);
    assert.match(installs(builder)[0], /bash stack\/install-tfjs-node\.sh --variant gpu /);
    assert.ok(!stage('gpu').lines.some((line) => line.includes('LD_LIBRARY_PATH')), 'the CUDA libraries are found by RUNPATH');
  });

  it('builds the cpu target (the default, last) on the node image with the tensorflow-cpu binding', () => {
    assert.equal([...stages.keys()].at(-1), 'cpu');
    assert.match(baseImage('cpu'), /^node:20/);
    const builder = nodeModulesFrom('cpu');
    assert.equal(installs(builder).length, 1);
    assert.doesNotMatch(installs(builder)[0], /--variant/);
  });

  it('runs `worker gpu` without --allow-cpu as a non-root uid 1000 in the gpu target', () => {
    const gpu = stage('gpu').lines;
    assert.ok(gpu.includes('CMD ["worker", "gpu"]'));
    assert.ok(gpu.includes('ENTRYPOINT ["node", "bin/fraudops.cjs"]'));
    assert.ok(gpu.includes('USER 1000:1000'));
    assert.doesNotMatch(dockerfile, /--allow-cpu"/);
  });

  it('copies only stages it defines and files that exist in the build context', () => {
    const ignored = readFileSync(path.join(root, 'deploy', 'app', 'Dockerfile.dockerignore'), 'utf8').split('\n');
    for (const [name, { lines }] of stages) {
      for (const line of lines.filter((l) => l.startsWith('COPY '))) {
        const from = /--from=(\S+)/.exec(line)?.[1];
        if (from) {
          assert.ok(stages.has(from), `${name}: COPY --from=${from} names no stage`);
          continue;
        }
        const sources = line.replace(/--\S+/g, '').split(/\s+/).slice(1, -1);
        for (const source of sources.filter((s) => s !== '.')) {
          assert.ok(existsSync(path.join(root, source)), `${name}: ${source} does not exist`);
          assert.ok(!ignored.includes(source.split('/')[0]), `${name}: ${source} is excluded by the .dockerignore`);
        }
      }
    }
  });
});

describe('deploy/config.yaml, the containers config rendered from config.yaml', () => {
  it('is up to date with config.yaml (else run: node --import tsx deploy/render-config.ts)', () => {
    for (const [file, expected] of Object.entries(renderedFiles(root))) {
      assert.equal(readFileSync(file, 'utf8'), expected, `${path.relative(root, file)} is stale`);
    }
  });

  it('keeps every setting of config.yaml but stack, and reaches each backing service by its compose host name', () => {
    const { stack, ...rest } = containerSettings;
    const { stack: localStack, ...localRest } = settings;
    assert.deepEqual(rest, localRest);
    for (const [key, host] of Object.entries(SERVICE_HOSTS)) {
      assert.ok(services[host], `no compose service ${host}`);
      assert.deepEqual(stack[key], { ...localStack[key], host }, `stack.${key}`);
    }
    assert.equal(stack.host, '0.0.0.0', 'the processes listen on every interface of their container');
  });

  // Needs an optional `host` per service under `stack` in config/index.ts (see the deploy report).
  it('is a valid config', () => {
    const secrets = { S3_ACCESS_KEY: 'fraudops', S3_SECRET_KEY: 'a-long-secret', API_TOKEN: 'a-test-token-of-16+' };
    assert.doesNotThrow(() => parseConfig(containerSettings, secrets, root));
  });
});

describe('deploy/prometheus', () => {
  const prometheus = readYaml('deploy', 'prometheus', 'prometheus.yml') as {
    rule_files: string[];
    scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
  };
  const rules = readYaml('deploy', 'prometheus', 'alerts.yml') as {
    groups: Array<{
      name: string;
      rules: Array<{ alert: string; expr: string; for?: string; labels: { severity: string }; annotations: Record<string, string> }>;
    }>;
  };
  const alerts = rules.groups.flatMap((group) => group.rules);

  it('scrapes every fraudops process on its configured port, under the job names the alerts use', () => {
    const jobs = Object.fromEntries(prometheus.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((c) => c.targets)]));
    for (const [name, port] of Object.entries(APP_PORTS)) assert.deepEqual(jobs[`fraudops-${name}`], [`${name}:${port}`], name);
    for (const targets of Object.values(jobs)) {
      for (const target of targets) {
        const host = target.split(':')[0];
        assert.ok(host === 'localhost' || services[host], `scrape target ${target} is no compose service`);
      }
    }
  });

  it('loads the alert rules, mounted beside prometheus.yml', () => {
    assert.deepEqual(prometheus.rule_files, ['alerts.yml']);
    assert.ok(services.prometheus.volumes?.includes('./deploy/prometheus:/etc/prometheus:ro'));
  });

  it('alerts on drift, error rate, latency, consumer lag and a missed schedule, each with a severity and a summary', () => {
    const byMetric = (metric: string) => alerts.filter((alert) => alert.expr.includes(metric)).map((alert) => alert.alert);
    assert.ok(byMetric('fraudops_feature_psi').length, 'drift');
    assert.ok(byMetric('fraudops_api_request_duration_seconds_count{status=~"5..').length, 'error rate');
    assert.ok(byMetric('histogram_quantile(0.99, sum by (le) (rate(fraudops_api_request_duration_seconds_bucket').length, 'latency p99');
    assert.ok(byMetric('fraudops_scorer_consumer_lag').length, 'consumer lag');
    assert.ok(byMetric(`temporal_workflow_completed{workflow_type="${trainingPipeline.name}"}`).length, 'missed schedule');
    assert.ok(byMetric('fraudops_quality_window{metric="average_precision", source="chargeback"}').length, 'live quality');
    for (const alert of alerts) {
      assert.ok(['warning', 'critical'].includes(alert.labels.severity), `${alert.alert} severity`);
      assert.ok(alert.annotations.summary && alert.annotations.description, `${alert.alert} annotations`);
    }
    assert.equal(new Set(alerts.map((alert) => alert.alert)).size, alerts.length, 'alert names are unique');
  });

  it('flags drift at the PSI threshold of the training validation', () => {
    const drift = alerts.find((alert) => alert.alert === 'FeatureDrift');
    assert.equal(Number(/> ([\d.]+)$/.exec(drift?.expr ?? '')?.[1]), settings.validation.drift.psi);
  });

  it('waits a day past the daily schedule before calling it missed, on one window throughout', () => {
    assert.match(settings.pipeline.schedule.cron, /^\d+ \d+ \* \* \*$/, 'the alert assumes a daily cron');
    const missed = alerts.find((alert) => alert.alert === 'TrainingScheduleMissed');
    const windows = [...(missed?.expr ?? '').matchAll(/(?:\[|offset )(\d+)h\b/g)].map((match) => Number(match[1]));
    assert.ok(windows.length >= 3, `windows of ${missed?.expr}`);
    assert.equal(new Set(windows).size, 1, `windows ${windows.join(', ')} differ`);
    assert.ok(windows[0] > 24 && windows[0] <= 30, `threshold ${windows[0]} h`);
  });

  it('queries only metrics and labels the processes export', () => {
    const declared = declaredMetrics();
    // The scan itself: the API histogram with its labels, and the stream scorer's and drift monitor's gauges.
    assert.deepEqual(declared.get('fraudops_api_request_duration_seconds'), ['method', 'route', 'status']);
    for (const name of ['fraudops_scorer_consumer_lag', 'fraudops_feature_psi']) assert.ok(declared.has(name), name);
    assert.deepEqual(
      alerts.flatMap((alert) => queryProblems(alert.expr, declared).map((problem) => `${alert.alert}: ${problem}`)),
      [],
    );
    assert.deepEqual(queryProblems('sum by (decision) (fraudops_http_errors_total{kind="x"})', declared), [
      'fraudops_http_errors_total is exported by no process',
      'no metric of the expression has the label decision',
    ]);
    assert.deepEqual(queryProblems('fraudops_api_errors_total{decision="fraud"} + temporal_workflow_completed_total', declared), [
      'fraudops_api_errors_total has no label decision',
      'temporal_workflow_completed_total is exported by no process',
    ]);
  });
});

describe('deploy/grafana', () => {
  const datasources = readYaml('deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml').datasources as Array<{
    uid: string;
    url: string;
  }>;
  const provider = readYaml('deploy', 'grafana', 'provisioning', 'dashboards', 'fraudops.yml').providers[0];
  const dashboardDir = path.join(root, 'deploy', 'grafana', 'dashboards');
  const dashboards = readdirSync(dashboardDir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => JSON.parse(readFileSync(path.join(dashboardDir, file), 'utf8')));
  const panels = dashboards.flatMap(
    (dashboard) =>
      dashboard.panels as Array<{
        id: number;
        title: string;
        datasource: { uid: string };
        fieldConfig?: { defaults?: { unit?: string } };
        targets: Array<{ expr: string; datasource: { uid: string } }>;
      }>,
  );
  const exprs = panels.flatMap((panel) => panel.targets.map((target) => target.expr));

  it('provisions the Prometheus datasource and the dashboards folder that compose mounts', () => {
    assert.deepEqual(
      datasources.map(({ uid, url }) => [uid, url]),
      [['prometheus', 'http://prometheus:9090']],
    );
    assert.ok(services.grafana.volumes?.includes(`./deploy/grafana/dashboards:${provider.options.path}:ro`));
  });

  it('has dashboards with unique uids and panel ids, every query on the provisioned datasource', () => {
    assert.ok(dashboards.length >= 3);
    assert.equal(new Set(dashboards.map((dashboard) => dashboard.uid)).size, dashboards.length);
    for (const dashboard of dashboards) {
      const ids = dashboard.panels.map((panel: { id: number }) => panel.id);
      assert.equal(new Set(ids).size, ids.length, `${dashboard.uid} panel ids`);
    }
    for (const panel of panels) {
      assert.ok(panel.targets.length, `${panel.title} has no query`);
      for (const target of [panel, ...panel.targets]) assert.equal(target.datasource.uid, 'prometheus', panel.title);
    }
  });

  it('shows API latency and throughput, predictions by decision, drift, Temporal worker metrics and Kafka lag', () => {
    const shows = (pattern: RegExp) => exprs.some((expr) => pattern.test(expr));
    assert.ok(shows(/histogram_quantile\(0\.99, .*fraudops_api_request_duration_seconds_bucket/), 'API latency');
    assert.ok(shows(/rate\(fraudops_api_request_duration_seconds_count/), 'API throughput');
    assert.ok(shows(/by \(decision\) .*fraudops_api_predictions_total/), 'API predictions by decision');
    assert.ok(shows(/by \(decision\) .*fraudops_scorer_predictions_total/), 'stream predictions by decision');
    assert.ok(shows(/fraudops_feature_psi/), 'drift');
    assert.ok(shows(/temporal_worker_task_slots_available/) && shows(/temporal_activity_schedule_to_start_latency/), 'Temporal workers');
    assert.ok(shows(new RegExp(`temporal_workflow_completed\\{workflow_type="${trainingPipeline.name}"\\}`)), 'training runs');
    assert.ok(shows(/fraudops_scorer_consumer_lag/), 'Kafka lag');
    assert.ok(shows(/fraudops_quality_window\{metric="average_precision"/) && shows(/^fraudops_quality_daily$/), 'live quality');
  });

  it('queries only metrics and labels the processes export', () => {
    const declared = declaredMetrics();
    assert.deepEqual(
      panels.flatMap((panel) => panel.targets.flatMap((target) => queryProblems(target.expr, declared).map((p) => `${panel.title}: ${p}`))),
      [],
    );
  });

  it('plots durations in the unit each process exports: seconds for fraudops_*, milliseconds for the Temporal SDK', () => {
    for (const panel of panels) {
      const queried = panel.targets.map((target) => target.expr).join(' ');
      if (/fraudops_[a-z_]+_seconds_bucket/.test(queried)) assert.equal(panel.fieldConfig?.defaults?.unit, 's', panel.title);
      if (/temporal_[a-z_]+_latency_bucket/.test(queried)) assert.equal(panel.fieldConfig?.defaults?.unit, 'ms', panel.title);
    }
  });
});
