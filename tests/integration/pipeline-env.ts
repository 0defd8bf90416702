// An isolated pipeline environment on the real stack for integration tests: its own config.yaml (topics, task
// queues, consumer group, model name, schedule id and metrics ports of its own; small training), and helpers to
// run the CLI and the workers as child processes with it, as an operator would.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { type Config, loadConfig, projectRoot, type Settings } from '../../config';

const CLI = path.join(projectRoot(), 'bin', 'fraudops.cjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface PipelineEnv {
  name: string;
  config: Config;
  env: NodeJS.ProcessEnv;
  cli(args: string[]): Promise<CliResult>;
  /** Workers started so far, in order. */
  workers: ChildProcess[];
  startWorker(kind: 'cpu' | 'gpu'): ChildProcess;
  cleanup(): void;
}

/** `tweak` edits the parsed config.yaml before it is written. */
export function createPipelineEnv(tweak: (settings: Settings) => void = () => undefined): PipelineEnv {
  const name = `pl${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-pipeline-'));
  const settings = parse(readFileSync(path.join(projectRoot(), 'config.yaml'), 'utf8')) as Settings;
  settings.stack.dir = path.resolve(projectRoot(), settings.stack.dir);
  settings.topics = Object.fromEntries(
    Object.entries(settings.topics).map(([key, topic]) => [key, `${name}-${topic}`]),
  ) as Settings['topics'];
  settings.registry.modelName = `test-fraud-detector-${name}`;
  settings.ingest.consumerGroup = `${name}-ingest`;
  settings.ingest.lakePrefix = `test-lakes/${name}`;
  settings.pipeline.taskQueues = Object.fromEntries(
    Object.entries(settings.pipeline.taskQueues).map(([key, q]) => [key, `${name}-${q}`]),
  ) as Settings['pipeline']['taskQueues'];
  settings.pipeline.schedule.id = `${name}-retrain`;
  const base = 20000 + Math.floor(Math.random() * 20000);
  settings.pipeline.workerMetricsPorts = { cpu: base, gpu: base + 1 };
  settings.serving.port = base + 2;
  settings.stream.metricsPort = base + 3;
  settings.pipeline.gpuScheduleToStart = '2s';
  settings.pipeline.trainingHeartbeatTimeout = '10s';
  settings.pipeline.shutdownGraceSeconds = 5;
  Object.assign(settings.pipeline.training, { epochs: 5, hidden: [16], checkpointEverySeconds: 1 });
  // Test data is small and young (features warming up): live drift would start retraining runs nobody waits for.
  // tests/integration/retrain.test.ts covers that path.
  Object.assign(settings.pipeline.retrain, { onLiveDrift: false, onQualityDrop: false });
  tweak(settings);
  const configPath = path.join(dir, 'config.yaml');
  writeFileSync(configPath, stringify(settings));
  copyFileSync(path.join(projectRoot(), '.env'), path.join(dir, '.env'));
  const env = { ...process.env, FRAUDOPS_CONFIG: configPath };
  const children: ChildProcess[] = [];

  return {
    name,
    config: loadConfig(env),
    env,
    workers: children,
    cli: (args) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [CLI, ...args], { cwd: projectRoot(), env });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => {
          stdout += d;
        });
        child.stderr.on('data', (d) => {
          stderr += d;
        });
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      }),
    startWorker(kind) {
      // No GPU here: the GPU worker serves its queue on the CPU backend only when told to.
      const args = kind === 'gpu' ? ['worker', 'gpu', '--allow-cpu'] : ['worker', kind];
      const child = spawn(process.execPath, [CLI, ...args], { cwd: projectRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.resume();
      child.stderr?.resume();
      children.push(child);
      return child;
    },
    cleanup() {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once a worker started by startWorker logs that it polls its task queues; rejects if it exits first. */
export function workerPolling(child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${child.pid} did not poll within ${timeoutMs / 1000} s`)), timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onData = (data: Buffer) => {
      if (data.toString().includes('worker polling')) done();
    };
    const onExit = (code: number | null) => done(new Error(`worker ${child.pid} exited (${code}) before polling`));
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Polls `probe` until it gives a value (errors count as not yet), or fails after `timeoutMs` naming `what`. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(300);
  }
}
