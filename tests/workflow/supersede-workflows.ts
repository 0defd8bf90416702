// A stand-in for trainingPipeline's approval wait, for the supersede test on the real server: it shows itself as
// waiting (the Stage search attribute), asks activities/supersede.ts to supersede older waiting runs, then waits for
// its own supersedeCandidate signal.
import { condition, proxyActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { createSupersedeActivities } from '../../activities/supersede';
import { supersedeCandidate } from '../../workflows/messages';
import { PIPELINE_KEYS } from '../../workflows/search-attributes';

const { supersedeWaitingCandidates } = proxyActivities<ReturnType<typeof createSupersedeActivities>>({ startToCloseTimeout: '1 minute' });

export async function awaitingCandidate(version: string): Promise<string> {
  let by: string | undefined;
  setHandler(supersedeCandidate, (input) => {
    by = input.by;
  });
  upsertSearchAttributes([{ key: PIPELINE_KEYS.stage, value: 'awaiting-approval' }]);
  const result = await supersedeWaitingCandidates({ candidateVersion: version });
  if (result.supersededBy) return `a newer run waits: ${result.supersededBy}`;
  await condition(() => by !== undefined, '10 minutes');
  return by ? `superseded by ${by}` : 'still waiting';
}
