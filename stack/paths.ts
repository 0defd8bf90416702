// Where the local stack keeps its installs, data, logs and pid files (all under config.stack.dir).
import path from 'node:path';
import type { Config } from '../config';

export interface StackPaths {
  root: string;
  venv: string;
  venvBin: (name: string) => string;
  kafkaLib: string;
  data: (service: string) => string;
  log: (service: string) => string;
  pid: (service: string) => string;
  installLog: string;
}

export function stackPaths(config: Config): StackPaths {
  const root = path.resolve(config.root, config.stack.dir);
  const venv = path.join(root, 'venv');
  return {
    root,
    venv,
    venvBin: (name) => path.join(venv, 'bin', name),
    kafkaLib: path.join(root, 'kafka', 'lib'),
    data: (service) => path.join(root, 'data', service),
    log: (service) => path.join(root, 'logs', `${service}.log`),
    pid: (service) => path.join(root, 'run', `${service}.pid`),
    installLog: path.join(root, 'logs', 'install.log'),
  };
}
