// `fraudops tune`: start a tuningSearch (config.yaml `tuning:`) over the worker pools, follow its progress, and
// print the best config with its MLflow run id, what pipeline.training.fromTuning / `pipeline run --tuning` take.
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { type Command, InvalidArgumentError } from 'commander';
import { connectTemporal } from '../clients/temporal';
import { loadConfig } from '../config';
import { MODEL_FAMILIES, type ModelFamily } from '../ml/experiment';
import { checkPrivateSpace } from '../ml/tuning/private-search';
import { describeCandidate, familySpace } from '../ml/tuning/space';
import { TuningError } from '../temporal/tuned-config';
import { startTuning, tuningInput } from '../temporal/tuning';
import { type TuningSearchResult, type TuningStatus, tuningStatus } from '../workflows/tuning';
import { numberIn } from './files';
import { webUiUrl } from './pipeline';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function oneFamily(value: string): ModelFamily {
  const family = MODEL_FAMILIES.find((f) => f === value);
  if (!family) throw new InvalidArgumentError(`--family: one of ${MODEL_FAMILIES.join(', ')}`);
  return family;
}

/** Prints a line on stderr whenever the search's progress changes, until it closes. */
async function follow(client: Client, workflowId: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  let last = '';
  for (;;) {
    const status: TuningStatus | undefined = await handle.query(tuningStatus).catch(() => undefined);
    if (status) {
      const line =
        status.source === 'public'
          ? `tuning ${workflowId}: ${status.stage}, ${status.done}/${status.trials} trials done, ${status.failed} failed, ` +
            `${status.running.length} running` +
            (status.best ? `, best validation AP ${status.best.objective.toFixed(4)} (trial ${status.best.index})` : '')
          : // A private search releases its best trial only: no count of trials, no index, no score along the way.
            `tuning ${workflowId}: ${status.stage}, ${status.running.length} running` +
            (status.privacy ? `, ε ${status.privacy.epsilon.toFixed(3)} charged to the ledger` : '');
      if (line !== last) console.error(line);
      last = line;
    }
    if ((await handle.describe()).status.name !== 'RUNNING') return;
    await sleep(2000);
  }
}

export function registerTuneCommands(program: Command): void {
  program
    .command('tune')
    .description(
      'Hyper-parameter search over tuning.space (config.yaml): random search, each trial an activity on the GPU or CPU pool that ' +
        'trains a candidate with DP at the tuning ε on public simulated data (seeds tuning.data.seeds, never the evaluation ' +
        "data's) and scores it on that data's validation days. Public data: the search costs no privacy. With " +
        "tuning.data.source private, the trials read the pipeline's own window instead: the search's (ε, δ) is charged to the " +
        'privacy ledger first (refused past the budget), the number of trials is random (mean tuning.trials, drawn in secret), ' +
        'trials are ranked by a noisy card precision and only the best is released (Papernot & Steinke 2022). Results: an MLflow ' +
        'parent run with a child run per trial and a comparison plot. Prints the workflow id; with --wait, follows the search ' +
        'and ends with the best config and its MLflow run id (for pipeline.training.fromTuning or `pipeline run --tuning`).',
    )
    .option('--trials <n>', 'number of candidates (default tuning.trials; a private search: their mean)', numberIn(1, 1000, true))
    .option('--concurrency <n>', 'trials at once over both pools (default tuning.concurrency)', numberIn(1, 256, true))
    .option(
      '--family <family>',
      `search one family only (${MODEL_FAMILIES.join(' | ')}): tuning.space restricted to the keys that change its training`,
      oneFamily,
    )
    .option('--wait', 'follow the search (progress on stderr) and print the best config when it ends')
    .option('--json', 'with --wait: print the whole result (every trial) as JSON; a private search: its best config only')
    .action(async (options: { trials?: number; concurrency?: number; family?: ModelFamily; wait?: boolean; json?: boolean }) => {
      const config = loadConfig();
      const input = tuningInput(config, { trials: options.trials, concurrency: options.concurrency });
      if (options.family) input.space = familySpace(input.space, options.family);
      if (input.data.source === 'private') checkPrivateSpace(input.space, input.options);
      const client = await connectTemporal(config);
      const { workflowId } = await startTuning(client, config, input);
      const trials = input.data.source === 'public' ? `${input.trials} trials` : `a random number of trials (mean ${input.trials})`;
      console.error(
        `started tuning ${workflowId}: ${trials}, ${input.concurrency} at once, space ${JSON.stringify(input.space)}\n` +
          `  Web UI: ${webUiUrl(config, workflowId)}`,
      );
      if (!options.wait) {
        console.log(workflowId);
        return;
      }
      await follow(client, workflowId);
      let result: TuningSearchResult;
      try {
        result = await client.workflow.getHandle(workflowId).result();
      } catch (err) {
        if (err instanceof WorkflowFailedError) throw new TuningError(`tuning ${workflowId} failed: ${err.cause?.message ?? err.message}`);
        throw err;
      }
      const released = input.data.source === 'public' ? result : { parentRunId: result.parentRunId, best: result.best };
      if (options.json) {
        console.log(JSON.stringify({ workflowId, ...released }, null, 2));
      } else if (result.best) {
        const v = result.best.validation;
        console.log(`best config: ${describeCandidate(result.best.hyperParameters)}`);
        console.log(
          v
            ? `validation AP ${v.averagePrecision.toFixed(4)}, AUC ${v.aucRoc.toFixed(4)}, CP@100 ${v.cardPrecisionAt100.toFixed(4)} ` +
                `(trial ${result.best.trial} of ${result.trials} done, ${result.failed} failed)`
            : `${result.best.objective.name}: ${result.best.objective.value.toFixed(4)} (the search released only this trial)`,
        );
        console.log(`MLflow run id: ${result.parentRunId}   (pipeline.training.fromTuning: ${result.parentRunId})`);
      }
      if (!result.best && input.data.source === 'private') {
        throw new TuningError(`tuning ${workflowId}: no trial ran to the end (or none was drawn), so nothing was released; see the Web UI`);
      }
      if (!result.best) throw new TuningError(`tuning ${workflowId}: every trial failed (${result.failed}); see the Web UI`);
    });
}
