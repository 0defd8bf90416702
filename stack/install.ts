// Idempotent installers for the local stack, from package registries only. Each step keeps a
// stamp (a hash of its inputs) so a second run is a no-op until those inputs change.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { type StackPaths, stackPaths } from './paths';

export class InstallError extends Error {
  override name = 'InstallError';
}

interface Step {
  name: string;
  /** What the step's result depends on; a change re-runs it. */
  fingerprint(): string;
  /** Whether the result is present and usable (checked after the stamp matches). */
  present(): boolean;
  run(): Promise<void>;
  stamp: string;
}

function sha256(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

function fileHash(file: string): string {
  return sha256(readFileSync(file, 'utf8'));
}

/** Runs a command, its output appended to the install log; throws with the log's tail on failure. */
export function run(command: string, args: string[], options: { cwd: string; log: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  mkdirSync(path.dirname(options.log), { recursive: true });
  appendFileSync(options.log, `\n$ ${command} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const write = (chunk: Buffer) => appendFileSync(options.log, chunk);
    child.stdout.on('data', write);
    child.stderr.on('data', write);
    child.on('error', (err) => reject(new InstallError(`${command} could not start: ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) return resolve();
      const tail = readFileSync(options.log, 'utf8').split('\n').slice(-25).join('\n');
      reject(new InstallError(`${command} ${args.join(' ')} exited with ${code}; see ${options.log}. Last lines:\n${tail}`));
    });
  });
}

function onPath(binary: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(path.join(dir, binary)));
}

function steps(config: Config, paths: StackPaths): Step[] {
  const repo = config.root;
  const log = paths.installLog;
  const requirements = path.join(repo, 'stack', 'requirements.txt');
  const pom = path.join(repo, 'stack', 'kafka', 'pom.xml');
  return [
    {
      name: 'python services (temporal, temporal-test-server, seaweedfs, mlflow) into .stack/venv',
      stamp: path.join(paths.venv, '.fraudops-stamp'),
      fingerprint: () => fileHash(requirements),
      present: () => ['temporal', 'temporal-test-server', 'weed', 'mlflow'].every((bin) => existsSync(paths.venvBin(bin))),
      run: async () => {
        if (!existsSync(paths.venvBin('python'))) await run('python3', ['-m', 'venv', paths.venv], { cwd: repo, log });
        await run(paths.venvBin('pip'), ['install', '--disable-pip-version-check', '--no-input', '-r', requirements], { cwd: repo, log });
      },
    },
    {
      name: 'Kafka broker jars from Maven Central into .stack/kafka/lib',
      stamp: path.join(paths.kafkaLib, '.fraudops-stamp'),
      fingerprint: () => fileHash(pom),
      present: () => existsSync(paths.kafkaLib),
      run: async () => {
        if (!onPath('java'))
          throw new InstallError('Kafka needs Java 17 or newer: install a JDK (e.g. apt-get install openjdk-17-jre-headless)');
        if (!onPath('mvn')) throw new InstallError('fetching Kafka needs Maven: install it (e.g. apt-get install maven)');
        rmSync(paths.kafkaLib, { recursive: true, force: true });
        await run('mvn', ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${paths.kafkaLib}`], {
          cwd: repo,
          log,
        });
      },
    },
    {
      name: 'Redis server from Debian',
      stamp: path.join(paths.root, '.redis-stamp'),
      fingerprint: () => 'redis-server',
      present: () => onPath('redis-server'),
      run: async () => {
        if (onPath('redis-server')) return;
        if (process.getuid?.() !== 0)
          throw new InstallError('redis-server is missing: run `sudo apt-get install -y redis-server`, then `make up` again');
        const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
        await run('apt-get', ['update', '-qq'], { cwd: repo, log, env });
        await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'redis-server'], { cwd: repo, log, env });
      },
    },
    {
      name: 'TensorFlow native binding (@tensorflow/tfjs-node against the tensorflow-cpu wheel)',
      stamp: path.join(paths.root, 'tfjs-node', '.fraudops-stamp'),
      fingerprint: () => fileHash(path.join(repo, 'stack', 'install-tfjs-node.sh')) + fileHash(path.join(repo, 'package-lock.json')),
      present: () => existsSync(path.join(repo, 'node_modules', '@tensorflow', 'tfjs-node', 'lib', 'napi-v8', 'tfjs_binding.node')),
      run: () =>
        run('bash', [path.join(repo, 'stack', 'install-tfjs-node.sh'), repo, path.join(paths.root, 'tfjs-node')], { cwd: repo, log }),
    },
    {
      name: 'deploy checkers (kubeconform + Kubernetes schemas, promtool) and the Prometheus server into .stack/deploy-tools',
      stamp: path.join(paths.root, 'deploy-tools', '.fraudops-stamp'),
      fingerprint: () => fileHash(path.join(repo, 'stack', 'install-deploy-tools.sh')),
      present: () =>
        ['kubeconform', 'promtool', 'prometheus'].every((bin) => existsSync(path.join(paths.root, 'deploy-tools', 'bin', bin))) &&
        existsSync(path.join(paths.root, 'deploy-tools', 'k8s-schemas')),
      run: () =>
        run('bash', [path.join(repo, 'stack', 'install-deploy-tools.sh'), path.join(paths.root, 'deploy-tools')], { cwd: repo, log }),
    },
  ];
}

/** Installs whatever is missing or out of date; prints one line per step that does work. */
export async function installStack(config: Config, say: (line: string) => void = console.log): Promise<void> {
  const paths = stackPaths(config);
  mkdirSync(paths.root, { recursive: true });
  for (const step of steps(config, paths)) {
    const fingerprint = step.fingerprint();
    const stamped = existsSync(step.stamp) && readFileSync(step.stamp, 'utf8').trim() === fingerprint;
    if (stamped && step.present()) continue;
    const started = Date.now();
    say(`installing ${step.name} ...`);
    await step.run();
    mkdirSync(path.dirname(step.stamp), { recursive: true });
    writeFileSync(step.stamp, `${fingerprint}\n`);
    say(`installed ${step.name} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}
