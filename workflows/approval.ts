// Human approval of a candidate model inside a workflow: the approvePromotion / rejectPromotion signals
// (sendable from the Web UI), the validated decidePromotion update, and a deadline after which the
// candidate expires unpromoted. A newer run's candidate supersedes this one (the supersedeCandidate signal, sent by
// activities/supersede.ts). Deterministic workflow code: imports only @temporalio/workflow.
import type { Duration } from '@temporalio/common';
import { condition, log, setHandler } from '@temporalio/workflow';
import {
  approvePromotion,
  decidePromotion,
  type PipelineStatus,
  type PromotionDecisionInput,
  type PromotionOutcome,
  rejectPromotion,
  supersedeCandidate,
} from './messages';

export interface ApprovalOptions {
  candidateVersion: string;
  approvers: readonly string[];
  timeout: Duration;
  /** The workflow's status object, updated in place (what the pipelineStatus query returns). */
  status: PipelineStatus;
  /**
   * Runs once the decision handlers are installed and the candidate shows as waiting (so a decision sent meanwhile
   * is kept); an outcome it returns (e.g. superseded by a newer candidate) ends the wait unless a decision came first.
   */
  whileWaiting?: () => Promise<PromotionOutcome | undefined>;
}

/** Why a decision cannot be taken, or undefined when it can. */
export function decisionProblem(
  input: PromotionDecisionInput,
  options: Pick<ApprovalOptions, 'candidateVersion' | 'approvers'>,
): string | undefined {
  if (!input || typeof input !== 'object') return 'the input must be an object {version, approver, reason}';
  if (input.version !== options.candidateVersion)
    return `version "${input.version}" is not the candidate awaiting approval ("${options.candidateVersion}")`;
  if (!options.approvers.includes(input.approver))
    return `approver "${input.approver}" is not in the configured approvers (${options.approvers.join(', ')})`;
  if (typeof input.reason !== 'string' || input.reason.trim() === '') return 'reason must be a non-empty text';
  return undefined;
}

export async function awaitPromotionDecision(options: ApprovalOptions): Promise<PromotionOutcome> {
  const { status } = options;
  let outcome: PromotionOutcome | undefined;
  const decide = (input: PromotionDecisionInput, approve: boolean, via: 'signal' | 'update'): PromotionOutcome => {
    outcome ??= {
      decision: approve ? 'approved' : 'rejected',
      version: input.version,
      approver: input.approver,
      reason: input.reason,
      via,
      decidedAt: new Date().toISOString(),
    };
    return outcome;
  };
  const onSignal = (approve: boolean) => (input: PromotionDecisionInput) => {
    const problem = outcome ? 'a decision was already taken' : decisionProblem(input, options);
    if (problem) {
      status.ignoredSignals.push(`${approve ? 'approvePromotion' : 'rejectPromotion'}: ${problem}`);
      log.warn('promotion signal ignored', { problem });
      return;
    }
    decide(input, approve, 'signal');
  };
  setHandler(supersedeCandidate, ({ by, version }) => {
    outcome ??= {
      decision: 'superseded',
      version: options.candidateVersion,
      reason: `superseded by version ${version} of the newer run ${by}`,
      via: 'supersede',
      supersededBy: by,
      decidedAt: new Date().toISOString(),
    };
  });
  setHandler(approvePromotion, onSignal(true));
  setHandler(rejectPromotion, onSignal(false));
  setHandler(decidePromotion, ({ approve, ...input }) => decide(input, approve, 'update'), {
    validator: ({ approve: _approve, ...input }) => {
      const problem = outcome ? 'a decision was already taken' : decisionProblem(input, options);
      if (problem) throw new Error(problem);
    },
  });

  status.stage = 'awaiting-approval';
  status.candidateVersion = options.candidateVersion;
  const early = await options.whileWaiting?.();
  if (early) outcome ??= early;
  const decided = await condition(() => outcome !== undefined, options.timeout);
  const final: PromotionOutcome =
    decided && outcome
      ? outcome
      : { decision: 'expired', version: options.candidateVersion, via: 'timeout', decidedAt: new Date().toISOString() };
  status.outcome = final;
  status.stage = final.decision;
  return final;
}
