// A workflow that only awaits a promotion decision: the approval part of the pipeline, under test.
import { setHandler } from '@temporalio/workflow';
import { awaitPromotionDecision } from '../../workflows/approval';
import { type PipelineStatus, type PromotionOutcome, pipelineStatus } from '../../workflows/messages';

export async function approvalGateWorkflow(args: {
  candidateVersion: string;
  approvers: string[];
  timeout: string;
}): Promise<PromotionOutcome> {
  const status: PipelineStatus = { stage: 'starting', steps: {}, approvers: args.approvers, ignoredSignals: [] };
  setHandler(pipelineStatus, () => status);
  return awaitPromotionDecision({ ...args, status });
}
