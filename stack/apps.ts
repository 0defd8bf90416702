// The fraudops processes `make up` runs beside the stack: both worker pools, the API, the stream scorer and the
// live quality monitor.
// Each is a detached `fraudops <command>` with a pid file and a log under stack.dir, like the services.
import path from 'node:path';
import { type Config, projectRoot } from '../config';
import { StackError } from './index';
import { stackPaths } from './paths';
import { launch, livePid, stopByPidFile } from './process';

export const APP_NAMES = ['worker-cpu', 'worker-gpu', 'api', 'scorer', 'quality-monitor'] as const;
export type AppName = (typeof APP_NAMES)[number];

interface App {
  name: AppName;
  args: string[];
  /** An HTTP endpoint that answers once the process is up. */
  probe: string;
}

function apps(config: Config): App[] {
  const host = config.stack.host;
  return [
    { name: 'worker-cpu', args: ['worker', 'cpu'], probe: `http://${host}:${config.pipeline.workerMetricsPorts.cpu}/metrics` },
    // --allow-cpu: the local stack runs on hosts without a GPU too; the worker's log and TrainDevice say which it used.
    {
      name: 'worker-gpu',
      args: ['worker', 'gpu', '--allow-cpu'],
      probe: `http://${host}:${config.pipeline.workerMetricsPorts.gpu}/metrics`,
    },
    { name: 'api', args: ['serve'], probe: `http://${host}:${config.serving.port}/health` },
    { name: 'scorer', args: ['score-stream'], probe: `http://${host}:${config.stream.metricsPort}/metrics` },
    { name: 'quality-monitor', args: ['quality-monitor'], probe: `http://${host}:${config.quality.metricsPort}/health` },
  ];
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** Starts the apps that are not running and waits until each answers its probe. */
export async function appsUp(config: Config, say: (line: string) => void = console.log): Promise<void> {
  const paths = stackPaths(config);
  const cli = path.join(projectRoot(), 'bin', 'fraudops.cjs');
  for (const app of apps(config)) {
    if (livePid(paths.pid(app.name))) {
      say(`${app.name}: already running (log ${paths.log(app.name)})`);
      continue;
    }
    launch({
      executable: process.execPath,
      args: [cli, ...app.args],
      env: { ...process.env, FRAUDOPS_CONFIG: config.file ?? path.join(config.root, 'config.yaml') },
      cwd: projectRoot(),
      logFile: paths.log(app.name),
      pidFile: paths.pid(app.name),
    });
    const deadline = Date.now() + config.stack.healthTimeoutSeconds * 1000;
    while (!(await answers(app.probe))) {
      if (!livePid(paths.pid(app.name))) throw new StackError(`${app.name} exited at start: see ${paths.log(app.name)}`);
      if (Date.now() > deadline) throw new StackError(`${app.name} did not answer ${app.probe} in time: see ${paths.log(app.name)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    say(`${app.name}: started (${app.probe}, log ${paths.log(app.name)})`);
  }
}

/** Stops the apps (SIGTERM: workers drain within pipeline.shutdownGraceSeconds). */
export async function appsDown(config: Config, say: (line: string) => void = console.log): Promise<void> {
  const paths = stackPaths(config);
  for (const app of apps(config).reverse()) {
    const stopped = await stopByPidFile(paths.pid(app.name), (config.pipeline.shutdownGraceSeconds + 10) * 1000);
    say(stopped ? `${app.name}: stopped` : `${app.name}: was not running`);
  }
}
