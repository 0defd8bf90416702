// `fraudops schedule create|status|pause|unpause|trigger|delete`: the daily retraining schedule (pipeline.schedule).
import type { Command } from 'commander';
import { connectTemporal } from '../clients/temporal';
import { loadConfig } from '../config';
import { deleteSchedule, describeSchedule, ensureSchedule, pauseSchedule, triggerSchedule, unpauseSchedule } from '../temporal/schedule';
import { numberIn } from './files';

async function connect() {
  const config = loadConfig();
  return { config, client: await connectTemporal(config) };
}

export function registerScheduleCommands(program: Command): void {
  const schedule = program
    .command('schedule')
    .description(
      'The retraining schedule: a Temporal Schedule (pipeline.schedule.id) starting trainingPipeline at pipeline.schedule.cron ' +
        '(UTC; default daily 03:00), catching up within pipeline.schedule.catchupWindow. A start is never skipped: a newer ' +
        'candidate supersedes one still waiting for approval. `make up` creates it.',
    );
  schedule
    .command('create')
    .description('create the schedule, or bring an existing one up to config.yaml (a pause and its note are kept)')
    .option('--days <n>', 'training days of each run (default pipeline.schedule.days)', numberIn(1, 365, true))
    .action(async (options: { days?: number }) => {
      const { config, client } = await connect();
      const outcome = await ensureSchedule(client, config, { days: options.days });
      console.log(`${config.pipeline.schedule.id}: ${outcome} (${config.pipeline.schedule.cron} UTC)`);
    });
  schedule
    .command('status')
    .description('print the schedule: paused or not, next and recent runs (JSON)')
    .action(async () => {
      const { config, client } = await connect();
      const state = await describeSchedule(client, config);
      console.log(JSON.stringify(state ?? { id: config.pipeline.schedule.id, exists: false }, null, 2));
    });
  schedule
    .command('pause')
    .description('stop starting runs until unpaused')
    .option('--note <text>', 'why (shown in the Web UI)', 'paused from the CLI')
    .action(async (options: { note: string }) => {
      const { config, client } = await connect();
      await pauseSchedule(client, config, options.note);
      console.log(`${config.pipeline.schedule.id}: paused`);
    });
  schedule
    .command('unpause')
    .description('start runs again at the cron times')
    .option('--note <text>', 'why (shown in the Web UI)', 'unpaused from the CLI')
    .action(async (options: { note: string }) => {
      const { config, client } = await connect();
      await unpauseSchedule(client, config, options.note);
      console.log(`${config.pipeline.schedule.id}: running`);
    });
  schedule
    .command('trigger')
    .description('start a run now')
    .action(async () => {
      const { config, client } = await connect();
      await triggerSchedule(client, config);
      console.log(`${config.pipeline.schedule.id}: triggered`);
    });
  schedule
    .command('delete')
    .description('delete the schedule (runs it started are not affected)')
    .action(async () => {
      const { config, client } = await connect();
      await deleteSchedule(client, config);
      console.log(`${config.pipeline.schedule.id}: deleted`);
    });
}
