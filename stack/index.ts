// The local stack supervisor: `fraudops stack up|down|status|logs`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config';
import { formatTextTable } from '../observability/text-table';
import { installStack } from './install';
import { stackPaths } from './paths';
import { launch, livePid, stopByPidFile, tailFile } from './process';
import { type Service, type ServiceName, services } from './services';

export { SERVICE_NAMES, type ServiceName } from './services';

export class StackError extends Error {
  override name = 'StackError';
}

export interface ServiceStatus {
  name: ServiceName;
  running: boolean;
  healthy: boolean;
  pid?: number;
  version?: string;
  url: string;
  log: string;
}

function select(config: Config, only?: readonly ServiceName[]): Service[] {
  const all = services(config, stackPaths(config));
  return only?.length ? all.filter((service) => only.includes(service.name)) : all;
}

function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function waitHealthy(config: Config, service: Service, pidFile: string, logFile: string): Promise<void> {
  const timeoutMs = config.stack.healthTimeoutSeconds * 1000;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await service.healthy()) return;
    if (livePid(pidFile) === undefined) {
      throw new StackError(
        `${service.name} exited while starting (port ${service.port}); see ${logFile}. Last lines:\n${tailFile(logFile, 15)}`,
      );
    }
    await sleep(500);
  }
  throw new StackError(
    `${service.name} did not become healthy on port ${service.port} within ${config.stack.healthTimeoutSeconds} s; see ${logFile}. Last lines:\n${tailFile(logFile, 15)}`,
  );
}

async function startService(config: Config, service: Service): Promise<'started' | 'running'> {
  const paths = stackPaths(config);
  const pidFile = paths.pid(service.name);
  const logFile = paths.log(service.name);
  if (livePid(pidFile) !== undefined) {
    await waitHealthy(config, service, pidFile, logFile);
    return 'running';
  }
  // A dead leader may have left workers of its group behind; clear them before starting again.
  await stopByPidFile(pidFile, 5000);
  if (await portAnswers(config.stack.host, service.port)) {
    throw new StackError(
      `${service.name}: port ${service.port} on ${config.stack.host} is taken by a process the stack did not start; stop it or set stack.${service.name}.port in config.yaml`,
    );
  }
  await service.prepare?.();
  launch({ executable: service.executable, args: service.args, env: service.env, cwd: paths.data(service.name), logFile, pidFile });
  await waitHealthy(config, service, pidFile, logFile);
  return 'started';
}

/** Installs what is missing, then starts every service that is not already running and healthy. */
export async function stackUp(
  config: Config,
  options: { only?: readonly ServiceName[]; say?: (line: string) => void } = {},
): Promise<void> {
  const say = options.say ?? console.log;
  await installStack(config, say);
  const started = Date.now();
  const results = await Promise.allSettled(
    select(config, options.only).map(async (service) => {
      const t0 = Date.now();
      const outcome = await startService(config, service);
      say(
        outcome === 'running'
          ? `${service.name}: already running at ${service.url}`
          : `${service.name}: started at ${service.url} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    }),
  );
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as Error] : []));
  if (failures.length) throw new StackError(failures.map((err) => err.message).join('\n\n'));
  say(`stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** Stops what the stack started (pid files only), in reverse start order. */
export async function stackDown(
  config: Config,
  options: { only?: readonly ServiceName[]; say?: (line: string) => void } = {},
): Promise<void> {
  const say = options.say ?? console.log;
  const paths = stackPaths(config);
  for (const service of select(config, options.only).reverse()) {
    const stopped = await stopByPidFile(paths.pid(service.name));
    say(stopped ? `${service.name}: stopped` : `${service.name}: was not running`);
  }
}

export async function stackStatus(config: Config, only?: readonly ServiceName[]): Promise<ServiceStatus[]> {
  const paths = stackPaths(config);
  return Promise.all(
    select(config, only).map(async (service) => {
      const pid = livePid(paths.pid(service.name));
      const healthy = pid !== undefined && (await service.healthy());
      const version = healthy ? await service.version().catch(() => undefined) : undefined;
      return { name: service.name, running: pid !== undefined, healthy, pid, version, url: service.url, log: paths.log(service.name) };
    }),
  );
}

export function formatStatus(rows: ServiceStatus[]): string {
  const table = [
    ['SERVICE', 'STATE', 'PID', 'VERSION', 'URL'],
    ...rows.map((row) => [
      row.name,
      row.healthy ? 'healthy' : row.running ? 'unhealthy' : 'stopped',
      row.pid ? String(row.pid) : '-',
      row.version ?? '-',
      row.url,
    ]),
  ];
  return formatTextTable(table);
}

/** Prints the last lines of the services' logs; with follow, keeps printing until interrupted. */
export async function stackLogs(config: Config, options: { only?: readonly ServiceName[]; lines: number; follow: boolean }): Promise<void> {
  const paths = stackPaths(config);
  const files = select(config, options.only)
    .map((service) => paths.log(service.name))
    .filter((file) => existsSync(file));
  if (!files.length) throw new StackError(`no logs yet under ${paths.root}/logs: run \`fraudops stack up\` first`);
  await new Promise<void>((resolve, reject) => {
    const child = spawn('tail', ['-n', String(options.lines), ...(options.follow ? ['-F'] : []), ...files], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}
