// tuningSearch: a random search over `tuning.space` on public simulated data, or on the pipeline's private records
// (data.source private: the window is snapshot and validated as the pipeline does, its privacy charged to the ledger
// before any trial). Public candidates are drawn in the workflow (ml/tuning/space.ts, seeded from the workflow id: a
// replay and a rerun with the same id draw the same ones); a private search's come from reserveTuningPrivacy, their
// number and values drawn in secret. Trials run as runTuningTrial activities, at most `concurrency` at once: up to
// `gpuSlots` on the GPU pool, the rest on the CPU pool; a GPU trial no GPU worker starts within gpuScheduleToStart
// moves to the CPU pool, and later trials stop trying the GPU. A trial whose worker dies is retried once its
// heartbeats stop; a trial that still fails is recorded as failed and the search goes on. Progress: the tuningStatus
// query and the TuningTrialsDone / AveragePrecision search attributes (AveragePrecision: public searches only).
import {
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { TrialData, TrialResult, TuningOutcome, TuningRunInput } from '../activities/tuning';
import { type Candidate, sampleCandidates, textSeed } from '../ml/tuning/space';
import { permanentCause, retryPolicy } from './activity-failures';
import { isScheduleToStartTimeout } from './gpu-fallback';
import { PIPELINE_KEYS, TUNING_KEYS } from './search-attributes';

export interface TuningSearchInput extends TuningRunInput {
  taskQueues: { cpu: string; gpu: string };
  /** Trials the GPU pool takes at once (pipeline.gpus). */
  gpuSlots: number;
  gpuScheduleToStart: string;
  heartbeatTimeout: string;
  /** Retries of a trial (a killed worker's attempt included). */
  maximumAttempts: number;
  searchAttributes: boolean;
}

export interface TuningStatus {
  stage: 'starting' | 'data' | 'privacy' | 'searching' | 'finishing' | 'done';
  source: TuningRunInput['data']['source'];
  /** The number of trials: for a private search, known from the privacy stage on (and not to be released). */
  trials: number;
  done: number;
  failed: number;
  running: Array<{ index: number; queue: string }>;
  /** objective: the trial's validation AP (public) or noisy card precision (private). */
  best: { index: number; objective: number; candidate: Candidate } | null;
  parentRunId: string | null;
  /** A private search's (ε, δ), charged to the ledger. */
  privacy?: { epsilon: number; delta: number; entryKey: string };
}

export interface TuningSearchResult extends TuningOutcome {
  parentRunId: string;
  results: Array<Pick<TrialResult, 'index' | 'candidate' | 'objective' | 'validation' | 'device' | 'attempt' | 'runId'>>;
}

export const tuningStatus = defineQuery<TuningStatus>('tuningStatus');

export async function tuningSearch(input: TuningSearchInput): Promise<TuningSearchResult> {
  const upsert: typeof upsertSearchAttributes = (attributes) => {
    if (input.searchAttributes) upsertSearchAttributes(attributes);
  };
  const records = proxyActivities<Activities>({ taskQueue: input.taskQueues.cpu, startToCloseTimeout: '10m', retry: retryPolicy(10) });
  const trials = proxyActivities<Activities>({
    taskQueue: input.taskQueues.cpu,
    startToCloseTimeout: '6h',
    heartbeatTimeout: input.heartbeatTimeout,
    retry: retryPolicy(input.maximumAttempts, ['InvalidInputError']),
  });
  const status: TuningStatus = {
    stage: 'starting',
    source: input.data.source,
    trials: input.trials,
    done: 0,
    failed: 0,
    running: [],
    best: null,
    parentRunId: null,
  };
  setHandler(tuningStatus, () => status);
  // A private search shows no count of its trials (their number is part of its secret), and no AP.
  const shown = input.data.source === 'public';
  upsert([{ key: PIPELINE_KEYS.stage, value: 'tuning' }, ...(shown ? [{ key: TUNING_KEYS.trialsDone, value: 0 }] : [])]);

  const { runId: parentRunId } = await records.startTuningRun(input);
  status.parentRunId = parentRunId;
  let search: { candidates: Candidate[]; data: TrialData };
  if (input.data.source === 'public') {
    search = { candidates: sampleCandidates(input.space, input.trials, textSeed(workflowInfo().workflowId)), data: input.data };
  } else {
    try {
      search = await privateData(input, parentRunId, status);
    } catch (err) {
      // The search ends before any trial (a snapshot that fails validation, a budget that refuses it): its run too,
      // even when cancelled; a failure to record that must not hide why the search ended.
      await CancellationScope.nonCancellable(() =>
        records.finishTuningRun({ parentRunId, source: 'private', trials: [], failed: 0 }).catch((finish) => {
          log.warn('could not mark the tuning run failed', { error: String(finish) });
        }),
      );
      upsert([{ key: PIPELINE_KEYS.stage, value: 'failed' }]);
      throw permanentCause(err, PRIVATE_DATA_PERMANENT);
    }
  }
  const { candidates, data } = search;
  status.trials = candidates.length;
  status.stage = 'searching';
  const results: TrialResult[] = [];
  let gpuInFlight = 0;
  let gpuAnswers = true;

  const runOn = (queue: string, index: number, options: ActivityOptions) => {
    const args = { parentRunId, index, candidate: candidates[index], options: input.options, shape: input.shape, data };
    const proxy = trials.runTuningTrial as unknown as { executeWithOptions(o: ActivityOptions, a: unknown[]): Promise<TrialResult> };
    return proxy.executeWithOptions({ ...options, taskQueue: queue, summary: `trial ${index}` }, [args]);
  };
  const trial = async (index: number): Promise<void> => {
    const entry = { index, queue: input.taskQueues.cpu };
    status.running.push(entry);
    try {
      let result: TrialResult;
      if (gpuAnswers && gpuInFlight < input.gpuSlots) {
        gpuInFlight++;
        entry.queue = input.taskQueues.gpu;
        try {
          result = await runOn(input.taskQueues.gpu, index, { scheduleToStartTimeout: input.gpuScheduleToStart });
        } catch (err) {
          if (!isScheduleToStartTimeout(err)) throw err;
          gpuAnswers = false;
          log.warn('no GPU worker started a trial in time: the rest of the search runs on the CPU pool', { index });
          entry.queue = input.taskQueues.cpu;
          result = await runOn(input.taskQueues.cpu, index, {});
        } finally {
          gpuInFlight--;
        }
      } else {
        result = await runOn(input.taskQueues.cpu, index, {});
      }
      results.push(result);
      status.done++;
      if (!status.best || result.objective > status.best.objective)
        status.best = { index, objective: result.objective, candidate: result.candidate };
      if (shown) {
        upsert([
          { key: TUNING_KEYS.trialsDone, value: status.done },
          { key: TUNING_KEYS.bestAveragePrecision, value: status.best.objective },
        ]);
      }
    } catch (err) {
      status.failed++;
      log.warn('trial failed', { index, error: String(err) });
    } finally {
      status.running.splice(status.running.indexOf(entry), 1);
    }
  };

  // A pool of `concurrency` lanes, each taking the next candidate when its trial ends.
  let next = 0;
  const lane = async () => {
    while (next < candidates.length) await trial(next++);
  };
  await Promise.all(Array.from({ length: Math.min(input.concurrency, candidates.length) }, lane));

  status.stage = 'finishing';
  const outcome = await records.finishTuningRun({ parentRunId, source: input.data.source, trials: results, failed: status.failed });
  if (status.privacy) {
    await records.recordPrivacyOutcome({ entryKey: status.privacy.entryKey, outcome: outcome.best ? 'tuned' : 'failed' });
  }
  status.stage = 'done';
  upsert([{ key: PIPELINE_KEYS.stage, value: outcome.best ? 'tuned' : 'failed' }]);
  return {
    ...outcome,
    parentRunId,
    results: results.map(({ index, candidate, objective, validation, device, attempt, runId }) => ({
      index,
      candidate,
      objective,
      validation,
      device,
      attempt,
      runId,
    })),
  };
}

/** Errors a retry of the private data steps cannot fix: bad input, a snapshot that fails validation, a refused budget. */
const PRIVATE_DATA_PERMANENT = ['InvalidInputError', 'DataValidationError', 'EmptyLake', 'PrivacyBudgetExceeded'];

/**
 * A private search's data and privacy: the pipeline's window snapshot and validated (its own activities), split for
 * the trials, then the ledger entry and the trials' candidates, their number secret (reserveTuningPrivacy).
 */
async function privateData(
  input: TuningSearchInput,
  parentRunId: string,
  status: TuningStatus,
): Promise<{ candidates: Candidate[]; data: TrialData }> {
  const settings = input.private;
  if (!settings) {
    throw ApplicationFailure.create({
      type: 'InvalidInputError',
      message: 'tuning.private: a private search needs its settings',
      nonRetryable: true,
    });
  }
  const options = { taskQueue: input.taskQueues.cpu, startToCloseTimeout: '30m', retry: retryPolicy(5, PRIVATE_DATA_PERMANENT) };
  const ingest = proxyActivities<Activities>({ ...options, heartbeatTimeout: '2m' });
  const steps = proxyActivities<Activities>(options);
  status.stage = 'data';
  const dataset = await ingest.ingestDataset({});
  await steps.validateSnapshot(dataset);
  const prepared = await steps.prepareTuningData({ dataset, shape: input.shape });
  status.stage = 'privacy';
  const reservation = await steps.reserveTuningPrivacy({
    parentRunId,
    data: prepared,
    space: input.space,
    options: input.options,
    meanTrials: input.trials,
    settings,
  });
  status.privacy = { epsilon: reservation.epsilon, delta: reservation.delta, entryKey: reservation.entryKey };
  return {
    candidates: reservation.candidates,
    data: {
      source: 'private',
      key: prepared.key,
      counts: prepared.counts,
      mechanisms: reservation.mechanisms,
      score: { k: settings.k, days: prepared.validationDays, sigma: reservation.score.sigma },
    },
  };
}
