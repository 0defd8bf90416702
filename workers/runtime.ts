// What both worker pools share: the SDK runtime (Prometheus metrics of the SDK, JSON logs, graceful shutdown on
// SIGTERM/SIGINT), the connection, and the activities' dependencies.
import { DefaultLogger, type LogLevel, NativeConnection, Runtime } from '@temporalio/worker';
import { createActivityDeps } from '../activities';
import type { ActivityDeps } from '../activities/deps';
import { temporalAddress } from '../clients/temporal';
import type { Config } from '../config';
import { createLogger, type Logger } from '../observability/log';

export interface WorkerRuntime {
  connection: NativeConnection;
  deps: ActivityDeps;
  log: Logger;
  metricsUrl: string;
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Installs the runtime once per process: SDK metrics on `metricsPort`, SDK logs as JSON lines. */
export async function startWorkerRuntime(
  config: Config,
  component: 'worker-cpu' | 'worker-gpu',
  metricsPort: number,
): Promise<WorkerRuntime> {
  const log = createLogger(component);
  const bindAddress = `${config.stack.host}:${metricsPort}`;
  Runtime.install({
    logger: new DefaultLogger('INFO', ({ level, message, meta }) => {
      // pino serialises an Error under `err` only.
      const { error, ...rest } = meta ?? {};
      log[LEVELS[level]](error ? { ...rest, err: error } : rest, message);
    }),
    telemetryOptions: { metrics: { prometheus: { bindAddress } } },
  });
  const connection = await NativeConnection.connect({ address: temporalAddress(config) });
  return { connection, deps: createActivityDeps(config, component), log, metricsUrl: `http://${bindAddress}/metrics` };
}

export const graceTime = (config: Config) => `${config.pipeline.shutdownGraceSeconds}s`;

/** Training progress reaches the server (and the Web UI) at least this often. */
export const HEARTBEAT_THROTTLE = '2s';
