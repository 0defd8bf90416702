// `fraudops pipeline run|status|approve|reject`: trigger a training run, follow it, decide on its candidate.
import { type Client, WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { connectTemporal } from '../clients/temporal';
import { type Config, loadConfig } from '../config';
import { startPipeline } from '../temporal/pipeline';
import { decidePromotion, type PipelineStatus, pipelineStatus } from '../workflows/messages';
import type { PipelineResult } from '../workflows/training-pipeline';
import { numberIn } from './files';

/** A pipeline command that could not do what was asked; the message says why. */
export class PipelineCommandError extends Error {
  override name = 'PipelineCommandError';
}

export const TERMINAL = new Set(['promoted', 'rejected', 'expired', 'superseded', 'failed']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const webUiUrl = (config: Config, workflowId: string) =>
  `http://${config.stack.host}:${config.stack.temporal.uiPort}/namespaces/${config.stack.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`;

/** The innermost failure message: what actually went wrong, not the layers of "activity task failed". */
function rootMessage(err: unknown): string {
  let current = err as { message?: string; cause?: unknown } | undefined;
  while (current?.cause) current = current.cause as typeof current;
  return current?.message ?? String(err);
}

async function status(client: Client, workflowId: string): Promise<PipelineStatus> {
  try {
    return await client.workflow.getHandle(workflowId).query(pipelineStatus);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new PipelineCommandError(`no pipeline run with id ${workflowId}`);
    throw err;
  }
}

/** Polls the status query until the run waits for approval or has ended; reports stage changes on stderr. */
export async function waitForStage(client: Client, workflowId: string, until: (s: PipelineStatus) => boolean): Promise<PipelineStatus> {
  let last = '';
  for (;;) {
    const current = await status(client, workflowId).catch((err) => {
      if (err instanceof PipelineCommandError) throw err;
      return undefined; // the run may be between workflow tasks, or have just closed
    });
    if (current && current.stage !== last) {
      last = current.stage;
      console.error(`pipeline ${workflowId}: ${last}`);
    }
    if (current && until(current)) return current;
    const description = await client.workflow.getHandle(workflowId).describe();
    if (description.status.name !== 'RUNNING') return current ?? { stage: 'failed', steps: {}, approvers: [], ignoredSignals: [] };
    await sleep(1000);
  }
}

async function decide(workflowId: string, approve: boolean, options: { version: string; approver: string; reason?: string }) {
  const client = await connectTemporal(loadConfig());
  const reason = options.reason ?? (approve ? 'approved from the CLI' : 'rejected from the CLI');
  try {
    return await client.workflow
      .getHandle(workflowId)
      .executeUpdate(decidePromotion, { args: [{ version: options.version, approver: options.approver, reason, approve }] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new PipelineCommandError(`the decision was refused: ${rootMessage(err)}`);
    if (err instanceof WorkflowNotFoundError) throw new PipelineCommandError(`no running pipeline with id ${workflowId}`);
    throw err;
  }
}

export function registerPipelineCommands(program: Command): void {
  const pipeline = program
    .command('pipeline')
    .description(
      'The Temporal training pipeline: ingest → validate → features → balance → train → evaluate → register → approval → promote',
    );

  pipeline
    .command('run')
    .description(
      "Start a training run on the data in Kafka now (its id is derived from the topics' end offsets and the settings, so " +
        'triggering twice on the same data does not train twice). Prints the workflow id and its Web UI address.',
    )
    .option('--days <n>', 'training days (default pipeline.schedule.days)', numberIn(1, 365, true))
    .option('--wait', 'wait for the run to end and print its result as JSON (model version, metrics, ε, stage)')
    .option('--approve-as <name>', 'approve the candidate as this approver (one of pipeline.approval.approvers) once it waits')
    .option('--auto-approve', 'let the auto-approve policy of config.yaml decide (overrides pipeline.approval.autoApprove.enabled)')
    .option(
      '--tuning <id>',
      'train with the best hyper-parameters of a tuning search (`fraudops tune`): its MLflow run id, or latest (overrides pipeline.training.fromTuning)',
    )
    .action(async (options: { days?: number; wait?: boolean; approveAs?: string; autoApprove?: boolean; tuning?: string }) => {
      const config = loadConfig();
      if (options.approveAs && !config.pipeline.approval.approvers.includes(options.approveAs)) {
        throw new PipelineCommandError(
          `--approve-as ${options.approveAs}: not one of the approvers in config.yaml (${config.pipeline.approval.approvers.join(', ')})`,
        );
      }
      const client = await connectTemporal(config);
      const run = await startPipeline(client, config, { days: options.days, autoApprove: options.autoApprove, tuning: options.tuning });
      console.error(
        `${run.started ? 'started' : 'already started earlier on the same data:'} pipeline ${run.workflowId}\n  Web UI: ${webUiUrl(config, run.workflowId)}`,
      );
      if (options.approveAs) {
        const waiting = await waitForStage(client, run.workflowId, (s) => s.stage === 'awaiting-approval' || TERMINAL.has(s.stage));
        if (waiting.stage === 'awaiting-approval' && waiting.candidateVersion) {
          await decide(run.workflowId, true, {
            version: waiting.candidateVersion,
            approver: options.approveAs,
            reason: 'approved with --approve-as',
          });
          console.error(`approved version ${waiting.candidateVersion} as ${options.approveAs}`);
        }
      }
      if (!options.wait) {
        if (!options.approveAs) console.log(run.workflowId);
        return;
      }
      await waitForStage(client, run.workflowId, (s) => TERMINAL.has(s.stage));
      try {
        const result: PipelineResult = await client.workflow.getHandle(run.workflowId).result();
        console.log(JSON.stringify({ workflowId: run.workflowId, ...result }, null, 2));
      } catch (err) {
        if (err instanceof WorkflowFailedError) throw new PipelineCommandError(`pipeline ${run.workflowId} failed: ${rootMessage(err)}`);
        throw err;
      }
    });

  pipeline
    .command('status <workflowId>')
    .description("print the run's stage, step times, candidate, metrics and decision (the pipelineStatus query) as JSON")
    .action(async (workflowId: string) => {
      const config = loadConfig();
      const client = await connectTemporal(config);
      const current = await status(client, workflowId);
      const description = await client.workflow.getHandle(workflowId).describe();
      console.log(
        JSON.stringify({ workflowId, execution: description.status.name, webUi: webUiUrl(config, workflowId), ...current }, null, 2),
      );
    });

  for (const [name, approve] of [
    ['approve', true],
    ['reject', false],
  ] as const) {
    pipeline
      .command(`${name} <workflowId>`)
      .description(
        `${name} the candidate waiting in run <workflowId> (the validated decidePromotion update: an unknown version or an ` +
          'approver not in pipeline.approval.approvers is refused and nothing is recorded)',
      )
      .requiredOption('--version <v>', "the candidate's model version (shown by `pipeline status`)")
      .requiredOption('--approver <name>', 'who decides (one of pipeline.approval.approvers)')
      .option('--reason <text>', 'why (recorded as a tag on the MLflow model version)')
      .action(async (workflowId: string, options: { version: string; approver: string; reason?: string }) => {
        const outcome = await decide(workflowId, approve, options);
        console.log(JSON.stringify(outcome));
      });
  }
}
