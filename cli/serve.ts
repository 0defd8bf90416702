// `fraudops serve`: the prediction API (api/server.ts) until SIGTERM or SIGINT.
import { type Command, InvalidArgumentError } from 'commander';
import { startServer } from '../api/server';
import { loadConfig } from '../config';
import { InvalidInputError } from '../ml/errors';

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`"${text}" is not a port number 0-65535`);
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
      const config = loadConfig();
      const port = options.port ?? config.serving.port;
      const server = await startServer(config, { port, host: options.host }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') throw new InvalidInputError(`port ${port} is already in use: stop what holds it or pass --port`);
        throw err;
      });
      await server.done;
    });
}
