// The real services of the local stack: how each is started, checked and named (DESIGN §2).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { kafkaHealthy } from '../clients/kafka';
import { MlflowClient, mlflowTrackingUri } from '../clients/mlflow';
import { redisVersion } from '../clients/redis';
import { s3Endpoint, s3Healthy } from '../clients/s3';
import { temporalHealthy } from '../clients/temporal';
import type { Config } from '../config';
import { searchAttributeFlags } from '../temporal/search-attributes';
import { run } from './install';
import type { StackPaths } from './paths';

const exec = promisify(execFile);

export const SERVICE_NAMES = ['s3', 'redis', 'kafka', 'temporal', 'mlflow', 'prometheus'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface Service {
  name: ServiceName;
  /** The port whose owner must be us: checked free before start, named in errors. */
  port: number;
  url: string;
  executable: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** One-time preparation before the first start (formatting storage, writing config files). */
  prepare?: () => Promise<void>;
  healthy: () => Promise<boolean>;
  version: () => Promise<string>;
}

async function firstLine(executable: string, args: string[]): Promise<string> {
  const { stdout } = await exec(executable, args, { timeout: 10_000 });
  return stdout.trim().split('\n')[0] ?? '';
}

function kafkaService(config: Config, paths: StackPaths): Service {
  const { host } = config.stack;
  const { port, controllerPort, partitions, heapMb } = config.stack.kafka;
  const dir = paths.data('kafka');
  const properties = path.join(dir, 'server.properties');
  const logDirs = path.join(dir, 'logs');
  const classpath = `${paths.kafkaLib}/*`;
  const log4j = path.join(config.root, 'stack', 'kafka', 'log4j2.properties');
  const java = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  return {
    name: 'kafka',
    port,
    url: `kafka://${host}:${port}`,
    executable: java,
    args: [`-Xmx${heapMb}m`, `-Dlog4j2.configurationFile=${log4j}`, '-cp', classpath, 'kafka.Kafka', properties],
    prepare: async () => {
      mkdirSync(logDirs, { recursive: true });
      writeFileSync(
        properties,
        [
          'process.roles=broker,controller',
          'node.id=1',
          `controller.quorum.voters=1@${host}:${controllerPort}`,
          `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
          `advertised.listeners=PLAINTEXT://${host}:${port}`,
          'controller.listener.names=CONTROLLER',
          'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
          'inter.broker.listener.name=PLAINTEXT',
          `log.dirs=${logDirs}`,
          `num.partitions=${partitions}`,
          'offsets.topic.replication.factor=1',
          'transaction.state.log.replication.factor=1',
          'transaction.state.log.min.isr=1',
          'group.initial.rebalance.delay.ms=0',
          'auto.create.topics.enable=true',
          '',
        ].join('\n'),
      );
      if (existsSync(path.join(logDirs, 'meta.properties'))) return;
      // KRaft storage is formatted once, with a cluster id kept beside it.
      const idFile = path.join(dir, 'cluster-id');
      // Kafka's cluster id is 16 random bytes in unpadded base64url (22 characters).
      if (!existsSync(idFile)) writeFileSync(idFile, `${randomBytes(16).toString('base64url')}\n`);
      const clusterId = readFileSync(idFile, 'utf8').trim();
      await run(
        java,
        [
          `-Dlog4j2.configurationFile=${log4j}`,
          '-cp',
          classpath,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          clusterId,
          '-c',
          properties,
          '--ignore-formatted',
        ],
        { cwd: dir, log: paths.log('kafka') },
      );
    },
    healthy: () => kafkaHealthy(config),
    version: async () => {
      const jar = readdirSync(paths.kafkaLib).find((name) => /^kafka_2\.13-.*\.jar$/.test(name));
      return jar ? jar.replace(/^kafka_2\.13-(.*)\.jar$/, '$1') : 'unknown';
    },
  };
}

function s3Service(config: Config, paths: StackPaths): Service {
  const { host } = config.stack;
  const { port, bucket } = config.stack.s3;
  const dir = paths.data('s3');
  const identities = path.join(dir, 'identities.json');
  return {
    name: 's3',
    port,
    url: s3Endpoint(config),
    executable: paths.venvBin('weed'),
    args: [
      'mini',
      `-dir=${dir}`,
      `-ip=${host}`,
      `-ip.bind=${host}`,
      `-s3.port=${port}`,
      `-s3.config=${identities}`,
      `-bucket=${bucket}`,
      '-webdav=false',
      '-admin.ui=false',
      '-s3.port.iceberg=0',
      '-s3.port.lance=0',
    ],
    prepare: async () => {
      mkdirSync(dir, { recursive: true });
      const { S3_ACCESS_KEY, S3_SECRET_KEY } = config.secrets;
      const body = {
        identities: [
          {
            name: 'fraudops',
            credentials: [{ accessKey: S3_ACCESS_KEY, secretKey: S3_SECRET_KEY }],
            actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
          },
        ],
      };
      writeFileSync(identities, JSON.stringify(body, null, 2), { mode: 0o600 });
    },
    healthy: () => s3Healthy(config),
    version: async () => (await firstLine(paths.venvBin('weed'), ['version'])).replace(/^version\s+\S+\s+/, '').split(' ')[0] ?? 'unknown',
  };
}

function temporalService(config: Config, paths: StackPaths): Service {
  const { host } = config.stack;
  const { port, uiPort, namespace } = config.stack.temporal;
  return {
    name: 'temporal',
    port,
    url: `http://${host}:${uiPort} (gRPC ${host}:${port})`,
    executable: paths.venvBin('temporal'),
    args: [
      'server',
      'start-dev',
      '--ip',
      host,
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--db-filename',
      path.join(paths.data('temporal'), 'temporal.db'),
      '--namespace',
      namespace,
      '--log-format',
      'json',
      '--log-level',
      'warn',
      ...searchAttributeFlags(),
    ],
    prepare: async () => {
      mkdirSync(paths.data('temporal'), { recursive: true });
    },
    healthy: async () => {
      if (!(await temporalHealthy(config))) return false;
      try {
        return (await fetch(`http://${host}:${uiPort}/`, { signal: AbortSignal.timeout(3000) })).ok;
      } catch {
        return false;
      }
    },
    version: async () => {
      // "temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)"
      const line = await firstLine(paths.venvBin('temporal'), ['--version']);
      return line.replace(/^temporal version\s+/, 'cli ');
    },
  };
}

function mlflowService(config: Config, paths: StackPaths): Service {
  const { host } = config.stack;
  const { port } = config.stack.mlflow;
  const dir = paths.data('mlflow');
  const client = MlflowClient.fromConfig(config);
  return {
    name: 'mlflow',
    port,
    url: mlflowTrackingUri(config),
    executable: paths.venvBin('mlflow'),
    args: [
      'server',
      '--host',
      host,
      '--port',
      String(port),
      '--workers',
      '2',
      '--backend-store-uri',
      `sqlite:///${path.join(dir, 'mlflow.db')}`,
      '--serve-artifacts',
      '--artifacts-destination',
      `s3://${config.stack.s3.bucket}/mlflow`,
    ],
    env: {
      ...process.env,
      MLFLOW_S3_ENDPOINT_URL: s3Endpoint(config),
      AWS_ACCESS_KEY_ID: config.secrets.S3_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: config.secrets.S3_SECRET_KEY,
      AWS_DEFAULT_REGION: config.stack.s3.region,
    },
    prepare: async () => {
      mkdirSync(dir, { recursive: true });
    },
    healthy: () => client.health(),
    version: () => client.serverVersion(),
  };
}

function redisService(config: Config, paths: StackPaths): Service {
  const { host } = config.stack;
  const { port } = config.stack.redis;
  const dir = paths.data('redis');
  return {
    name: 'redis',
    port,
    url: `redis://${host}:${port}`,
    executable: 'redis-server',
    args: [
      '--bind',
      host,
      '--port',
      String(port),
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
    ],
    prepare: async () => {
      mkdirSync(dir, { recursive: true });
    },
    healthy: async () => (await redisVersion(config)) !== undefined,
    version: async () => (await redisVersion(config)) ?? 'unknown',
  };
}

/**
 * Where each scrape job of deploy/prometheus/prometheus.yml (written for compose host names) is on the local stack:
 * host:port from config, or null for a job the local stack does not run (the Temporal dev server's metrics port is a
 * random one). A job missing here is an error, so a new job in prometheus.yml gets a local target or a reason.
 */
function localScrapeTargets(config: Config): Record<string, string | null> {
  const at = (port: number) => `${config.stack.host}:${port}`;
  return {
    prometheus: at(config.stack.prometheus.port),
    'fraudops-api': at(config.serving.port),
    'fraudops-worker-cpu': at(config.pipeline.workerMetricsPorts.cpu),
    'fraudops-worker-gpu': at(config.pipeline.workerMetricsPorts.gpu),
    'fraudops-scorer': at(config.stream.metricsPort),
    'fraudops-quality-monitor': at(config.quality.metricsPort),
    temporal: null,
  };
}

/** deploy/prometheus/prometheus.yml with the local targets and the absolute path of its rule files. */
export function localPrometheusConfig(config: Config): string {
  const dir = path.join(config.root, 'deploy', 'prometheus');
  const deployed = parseYaml(readFileSync(path.join(dir, 'prometheus.yml'), 'utf8')) as {
    rule_files: string[];
    scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
  };
  const targets = localScrapeTargets(config);
  const jobs = deployed.scrape_configs.flatMap((job) => {
    const target = targets[job.job_name];
    if (target === undefined)
      throw new Error(
        `deploy/prometheus/prometheus.yml: job ${job.job_name} has no local target in stack/services.ts (localScrapeTargets)`,
      );
    return target === null ? [] : [{ ...job, static_configs: [{ targets: [target] }] }];
  });
  return stringifyYaml({
    ...deployed,
    rule_files: deployed.rule_files.map((file) => path.resolve(dir, file)),
    scrape_configs: jobs,
  });
}

function prometheusService(config: Config, paths: StackPaths): Service {
  const { host } = config.stack;
  const { port } = config.stack.prometheus;
  const dir = paths.data('prometheus');
  const executable = path.join(paths.root, 'deploy-tools', 'bin', 'prometheus');
  const url = `http://${host}:${port}`;
  const get = (endpoint: string) => fetch(`${url}${endpoint}`, { signal: AbortSignal.timeout(3000) });
  return {
    name: 'prometheus',
    port,
    url,
    executable,
    args: [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
      '--storage.tsdb.retention.time=15d',
      `--web.listen-address=${host}:${port}`,
      // An edit of deploy/prometheus/alerts.yml applies within 30 s, without a restart.
      '--enable-feature=auto-reload-config',
      '--config.auto-reload-interval=30s',
    ],
    // Written at every start, so a change of deploy/prometheus or of the ports applies on the next `stack up`.
    prepare: async () => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'prometheus.yml'), localPrometheusConfig(config));
    },
    healthy: async () => {
      try {
        return (await get('/-/ready')).ok;
      } catch {
        return false;
      }
    },
    version: async () => {
      const body = (await (await get('/api/v1/status/buildinfo')).json()) as { data?: { version?: string } };
      return body.data?.version ?? 'unknown';
    },
  };
}

/** Every service, in start order (S3 before MLflow, whose artifacts live there). */
export function services(config: Config, paths: StackPaths): Service[] {
  return [
    s3Service(config, paths),
    redisService(config, paths),
    kafkaService(config, paths),
    temporalService(config, paths),
    mlflowService(config, paths),
    prometheusService(config, paths),
  ];
}
