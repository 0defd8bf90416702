// The pipeline's messages, defined once: the workflow installs the handlers, the CLI, the API and the tests
// send them. Imports only @temporalio/workflow, so clients and workflows can both load it.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** What an operator says about a candidate (the Web UI sends it as the signal's JSON input). */
export interface PromotionDecisionInput {
  version: string;
  approver: string;
  reason: string;
}

export type PromotionDecision = 'approved' | 'rejected' | 'expired' | 'superseded';

/** A newer run's candidate replaces this one in the approval queue (activities/supersede.ts sends it). */
export interface SupersedeInput {
  /** The newer run's workflow id. */
  by: string;
  /** Its candidate version. */
  version: string;
}

export interface PromotionOutcome {
  decision: PromotionDecision;
  version: string;
  approver?: string;
  reason?: string;
  /** How the decision arrived ('policy': the auto-approve policy of config.yaml; 'supersede': a newer candidate). */
  via: 'signal' | 'update' | 'timeout' | 'policy' | 'supersede';
  /** The newer run whose candidate superseded this one. */
  supersededBy?: string;
  decidedAt: string;
}

export interface PipelineStatus {
  stage: string;
  /** Steps finished so far, with their wall time in seconds. */
  steps: Record<string, number>;
  /** The step a failed run stopped at. */
  failedStep?: string;
  datasetSha256?: string;
  candidateVersion?: string;
  averagePrecision?: number;
  championAveragePrecision?: number | null;
  epsilon?: number | null;
  /** 'cpu', 'gpu:<device name>' or 'cpu (gpu worker, --allow-cpu)' (activities/train.ts TrainResult.device). */
  trainDevice?: string;
  approvers: string[];
  outcome?: PromotionOutcome;
  /** Signals that were ignored, with why (a signal cannot be refused). */
  ignoredSignals: string[];
}

export const approvePromotion = defineSignal<[PromotionDecisionInput]>('approvePromotion');
export const rejectPromotion = defineSignal<[PromotionDecisionInput]>('rejectPromotion');
/** Validated: an unknown version or an approver not in the list is refused and nothing is recorded. */
export const decidePromotion = defineUpdate<PromotionOutcome, [PromotionDecisionInput & { approve: boolean }]>('decidePromotion');
export const pipelineStatus = defineQuery<PipelineStatus>('pipelineStatus');
export const supersedeCandidate = defineSignal<[SupersedeInput]>('supersedeCandidate');
