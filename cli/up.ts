// `fraudops up` / `fraudops down`: the whole system on the local stack — services, both worker pools, the API,
// the stream scorer, simulated transactions, and one pipeline run that waits for approval in the Web UI.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Command } from 'commander';
import { createKafka, partitionRanges } from '../clients/kafka';
import { connectTemporal } from '../clients/temporal';
import { type Config, loadConfig, projectRoot } from '../config';
import { HANDBOOK_RECORDS } from '../records';
import { stackDown, stackUp } from '../stack';
import { appsDown, appsUp } from '../stack/apps';
import { startPipeline } from '../temporal/pipeline';
import { ensureSchedule } from '../temporal/schedule';
import { numberIn } from './files';
import { PipelineCommandError, TERMINAL, waitForStage, webUiUrl } from './pipeline';

async function transactionsInKafka(config: Config): Promise<number> {
  const admin = createKafka(config, 'fraudops-up').admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(config.topics.transactions)) return 0;
    return (await partitionRanges(admin, config.topics.transactions)).reduce((sum, r) => sum + r.high - r.low, 0);
  } finally {
    await admin.disconnect();
  }
}

export function registerUpCommands(program: Command): void {
  program
    .command('up')
    .description(
      'Run the whole system on the local stack: the services, `worker cpu`, `worker gpu --allow-cpu`, `serve`, `score-stream` and `quality-monitor` in the ' +
        'background (logs and pid files under stack.dir), the daily retraining schedule (created or updated), simulated ' +
        'transactions when Kafka has none, and one training run ' +
        'that ends waiting for your approval. Idempotent: what runs already is left alone.',
    )
    .option('--seed-days <n>', 'simulated days to publish when the transactions topic is empty', numberIn(30, 365, true), 45)
    .option('--csv <file>', 'publish this CSV (your `records:` declaration) instead of simulated days when the topic is empty')
    .option('--no-pipeline', 'do not start a training run')
    .action(async (options: { seedDays: number; csv?: string; pipeline: boolean }) => {
      const config = loadConfig();
      await stackUp(config);
      await appsUp(config);
      const client = await connectTemporal(config);
      const schedule = await ensureSchedule(client, config);
      console.log(`daily retraining schedule ${config.pipeline.schedule.id}: ${schedule} (${config.pipeline.schedule.cron} UTC)`);
      if ((await transactionsInKafka(config)) === 0) {
        // The simulator writes handbook records: under another declaration only the user's own feed can seed.
        const simulated = isDeepStrictEqual(config.records, HANDBOOK_RECORDS);
        if (!options.csv && !simulated) {
          console.log(
            `${config.topics.transactions} is empty and records: declares your own feed: publish it with ` +
              '`node bin/fraudops.cjs produce --csv <file>`, then `node bin/fraudops.cjs pipeline run --wait`',
          );
          return;
        }
        const source = options.csv
          ? ['--csv', options.csv]
          : ['--simulate', '--customers', '1000', '--terminals', '2000', '--days', String(options.seedDays)];
        console.log(
          `publishing ${options.csv ?? `${options.seedDays} simulated days of transactions`} (labels follow ${config.producer.labelDelayDays} days later)`,
        );
        const produced = spawnSync(process.execPath, [path.join(projectRoot(), 'bin', 'fraudops.cjs'), 'produce', ...source], {
          stdio: 'inherit',
        });
        if (produced.status !== 0) throw new PipelineCommandError('seeding transactions failed (see above)');
      }
      if (!options.pipeline) return;
      const run = await startPipeline(client, config);
      console.log(
        `training run ${run.workflowId}${run.started ? '' : ' (already started earlier on this data)'}: ${webUiUrl(config, run.workflowId)}`,
      );
      const status = await waitForStage(client, run.workflowId, (s) => s.stage === 'awaiting-approval' || TERMINAL.has(s.stage));
      if (status.stage === 'awaiting-approval') {
        console.log(
          [
            `version ${status.candidateVersion} awaits approval (AP ${status.averagePrecision?.toFixed(3)}, ε ${status.epsilon?.toFixed(2) ?? 'none'}).`,
            `  Web UI: open the run, "Send a Signal" approvePromotion with {"version": "${status.candidateVersion}", "approver": "alice", "reason": "looks good"}`,
            `  CLI:    node bin/fraudops.cjs pipeline approve ${run.workflowId} --version ${status.candidateVersion} --approver alice --reason "looks good"`,
          ].join('\n'),
        );
      } else {
        console.log(`training run ${run.workflowId} ended: ${status.stage}`);
      }
      console.log(
        `API: http://${config.stack.host}:${config.serving.port} (serves once a version is champion); stop everything with \`make down\``,
      );
    });

  program
    .command('down')
    .description('stop the apps `fraudops up` started (workers drain first), then the stack services')
    .action(async () => {
      const config = loadConfig();
      await appsDown(config);
      await stackDown(config);
    });
}
