// `fraudops serve`: the prediction API (api/server.ts) until SIGTERM or SIGINT.
import type { Command } from 'commander';
import { startServer } from '../api/server';
import { loadConfig } from '../config';
import { InvalidInputError } from '../ml/errors';

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidInputError(`--port ${text}: must be a port number 0-65535`);
  return port;
}

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description(
      'serve predictions over HTTP (POST /predict, GET /model /health /ready /metrics, approvals) with the champion model, ' +
        'hot-swapped on model-events; stops gracefully on SIGTERM',
    )
    .option('--port <port>', 'port to listen on (default: serving.port in config.yaml)', parsePort)
    .option('--host <address>', 'address to bind (default: all interfaces)')
    .action(async (options: { port?: number; host?: string }) => {
      const server = await startServer(loadConfig(), { port: options.port, host: options.host });
      await server.done;
    });
}
