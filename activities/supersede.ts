// One candidate waits for approval at a time: the newest. When a run's candidate is ready for approval, the older
// runs of the same deployment (same workflow task queue, hence the same registered model) still waiting are told
// they are superseded (they end `superseded`, recorded in MLflow and the Web UI); if a newer run already waits, this
// run is the one superseded. Nothing is skipped silently: the schedule starts every run (overlap ALLOW_ALL).
import { Context } from '@temporalio/activity';
import { supersedeCandidate } from '../workflows/messages';
import type { ActivityDeps } from './deps';

export interface SupersedeResult {
  /** The older runs told to stand down. */
  superseded: string[];
  /** A newer run already waiting for approval: this run's candidate is superseded by it. */
  supersededBy?: string;
}

export function createSupersedeActivities(deps: ActivityDeps) {
  return {
    async supersedeWaitingCandidates(input: { candidateVersion: string }): Promise<SupersedeResult> {
      const context = Context.current();
      const { workflowExecution, workflowType } = context.info;
      if (!workflowExecution || !workflowType)
        throw new Error('supersedeWaitingCandidates: this activity does not belong to a workflow run');
      const me = await context.client.workflow.getHandle(workflowExecution.workflowId, workflowExecution.runId).describe();
      const query = [
        `WorkflowType = '${workflowType}'`,
        `ExecutionStatus = 'Running'`,
        `Stage = 'awaiting-approval'`,
        `TaskQueue = '${deps.config.pipeline.taskQueues.workflow}'`,
      ].join(' AND ');
      const result: SupersedeResult = { superseded: [] };
      for await (const other of context.client.workflow.list({ query })) {
        if (other.runId === workflowExecution.runId) continue;
        const newer = other.startTime > me.startTime || (other.startTime.getTime() === me.startTime.getTime() && other.runId > me.runId);
        if (newer) {
          result.supersededBy = other.workflowId;
          continue;
        }
        await context.client.workflow
          .getHandle(other.workflowId, other.runId)
          .signal(supersedeCandidate, { by: workflowExecution.workflowId, version: input.candidateVersion });
        result.superseded.push(other.workflowId);
        deps.log.info({ superseded: other.workflowId, by: workflowExecution.workflowId }, 'an older candidate was superseded');
      }
      return result;
    },
  };
}
