// Step 4½: the lifetime privacy ledger. Before training draws any noise, reservePrivacy sets the run's noise by the
// schedule, composes the ledger's entries with this run over every day it touches (transaction unit) or over the
// rolling period (card unit), refuses the run when the budget would be exceeded, and otherwise writes the run's
// entry with its full planned mechanism (a run that fails later still counts), mirrored into its MLflow run.
// recordPrivacyOutcome later says how the attempt ended (display only: every entry counts). DP-SGD plans Poisson-
// sampled steps; a DP-EBM plans its histogram releases as Gaussian steps at sampling rate 1 (ml/ebm/accounting.ts).
// reserveTuningPrivacy does the same for a search on private data: its whole (ε, δ) (ml/tuning/private-search.ts) over
// the days its trials read, before any trial runs, and then draws the secret number of trials.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ledgerEntryKey, ledgerPrefix, readLedger, writeLedgerEntry } from '../clients/privacy-ledger-store';
import { plannedMechanism } from '../ml/dpsgd/plan';
import { plannedEbmMechanism } from '../ml/ebm';
import { InvalidInputError } from '../ml/errors';
import { type ExperimentOptions, ebmOptionsFor } from '../ml/experiment';
import {
  type BudgetCheck,
  checkBudget,
  describeExceeded,
  type LedgerBudget,
  type LedgerEntry,
  type LedgerMechanism,
  type LedgerOutcome,
  scheduledNoiseMultiplier,
} from '../ml/privacy/ledger';
import { drawTrialCount, secureUniform, trialCountDistribution } from '../ml/tuning/accounting';
import { hitsNoiseSigma, hitsSensitivity } from '../ml/tuning/private-score';
import { type ScoreNoise, searchPrivacy, secretCandidates, type TrialMechanism, trialMechanisms } from '../ml/tuning/private-search';
import type { Candidate, SearchSpace } from '../ml/tuning/space';
import type { PrivacySettings, TrainingSettings } from '../workflows/settings';
import type { TrainingSetRef } from './balance';
import type { ActivityDeps } from './deps';
import type { SplitRef } from './features';
import { pipelineRun } from './pipeline-run';
import { trainerOptionsOf } from './train';
import type { PrivateTuningDataRef, PrivateTuningSettings } from './tuning';

export interface ReservePrivacyInput {
  datasetSha256: string;
  split: Pick<SplitRef, 'periods'>;
  training: TrainingSetRef;
  settings: TrainingSettings;
  privacy: PrivacySettings;
}

export interface PrivacyReservation {
  /** The σ the training must use; null for a non-private run. */
  noiseMultiplier: number | null;
  /** What set σ: this run's own targetEpsilon, or the runs within the budget's reach fitting lifetimeEpsilon. */
  bound: 'run' | 'lifetime' | null;
  entryKey: string;
  /** The worst composed ε with this run's entry (its days, or the card period); null when unbounded. */
  lifetimeEpsilon: number | null;
  /** Where it was reached, as the report says it: 'event day 2018-04-23' or 'any card over 2017-04-25..2018-04-25'. */
  worstOn: string;
}

export interface ReserveTuningPrivacyInput {
  parentRunId: string;
  data: PrivateTuningDataRef;
  space: SearchSpace;
  /** The pipeline's training options at the tuning ε (what every candidate overrides). */
  options: Omit<ExperimentOptions, 'protocol'>;
  /** The mean number of trials (tuning.trials). */
  meanTrials: number;
  settings: PrivateTuningSettings;
}

export interface TuningReservation {
  /** One per trial, drawn after the entry was written: their number is secret, each drawn from the CSPRNG. */
  candidates: Candidate[];
  mechanisms: TrialMechanism[];
  score: ScoreNoise;
  epsilon: number;
  delta: number;
  entryKey: string;
  lifetimeEpsilon: number | null;
  worstOn: string;
}

export const PRIVACY_BUDGET_EXCEEDED = 'PrivacyBudgetExceeded';

const budgetOf = (privacy: PrivacySettings): LedgerBudget => ({
  unit: privacy.unit,
  epsilon: privacy.lifetimeEpsilon,
  delta: privacy.delta,
  periodDays: privacy.lifetimePeriodDays,
});

const where = (worst: BudgetCheck['worst']) =>
  'day' in worst ? `event day ${worst.day}` : `any card over ${worst.period.from.slice(0, 10)}..${worst.period.to.slice(0, 10)}`;

function currentRun(): { workflowId: string; runId: string } {
  const execution = Context.current().info.workflowExecution;
  if (!execution) throw new Error('the privacy ledger needs a workflow run');
  return execution;
}

type PlanCounts = Pick<TrainingSetRef, 'examples' | 'positives' | 'cards' | 'inputs'>;

/**
 * The sampled Gaussian mechanism the run's family will compose (null without DP): DP-SGD's steps, or the EBM's
 * F·(rounds + 1) histogram releases of one equivalent σ at sampling rate 1, F the model's inputs. Pure.
 */
export function plannedRunMechanism(settings: TrainingSettings, training: PlanCounts): { samplingRate: number; steps: number } | null {
  if (settings.options.family === 'ebm') {
    if (training.inputs === undefined) throw new InvalidInputError('training.inputs: the EBM plan needs the number of model inputs');
    return plannedEbmMechanism(ebmOptionsFor(settings.options), training.inputs);
  }
  const options = trainerOptionsOf(settings, training);
  return plannedMechanism(options, { rows: training.examples, positives: training.positives, cards: training.cards });
}

/** The mechanism a new run reserves: its planned steps with the schedule's σ (or non-private), and what set σ. Pure. */
export function scheduledMechanism(input: Pick<ReservePrivacyInput, 'settings' | 'privacy'> & { training: PlanCounts }): {
  mechanism: LedgerMechanism;
  bound: PrivacyReservation['bound'];
} {
  const { privacy } = input;
  const planned = plannedRunMechanism(input.settings, input.training);
  if (!planned) return { mechanism: { kind: 'non-private' }, bound: null };
  // Transaction unit: a day is trained on by the trainDays consecutive daily runs whose window covers it.
  // Card unit: every daily run of the period trains on every card. The EBM's σ is calibrated by the same accountant
  // (at q = 1, PLD follows the Gaussian's own curve up to its pessimistic discretisation: the EBM's exact ε is at most
  // the target, and the ledger's PLD composition agrees with the reservation).
  const runsInReach = privacy.unit === 'card' ? privacy.lifetimePeriodDays : input.settings.protocol.trainDays;
  // A share for tuning searches: the runs fit lifetimeEpsilon − share at δ/2 and the searches the share at δ/2, so
  // together they fit the budget at δ by basic composition (the ledger then checks the exact PLD composition).
  const share = privacy.tuningEpsilon ?? 0;
  const noise = scheduledNoiseMultiplier({
    samplingRate: planned.samplingRate,
    steps: planned.steps,
    delta: share > 0 ? privacy.delta / 2 : privacy.delta,
    targetEpsilon: privacy.targetEpsilon,
    lifetimeEpsilon: privacy.lifetimeEpsilon - share,
    runsInReach,
    accountant: privacy.accountant,
  });
  return {
    mechanism: {
      kind: 'poisson-gaussian',
      samplingRate: planned.samplingRate,
      noiseMultiplier: noise.noiseMultiplier,
      steps: planned.steps,
    },
    bound: noise.bound,
  };
}

export function createPrivacyLedgerActivities(deps: ActivityDeps) {
  const bucket = deps.config.stack.s3.bucket;
  const prefix = ledgerPrefix(deps.config);

  async function mirror(entry: LedgerEntry, datasetSha256: string, lifetimeEpsilon?: number | null): Promise<void> {
    const { run } = await pipelineRun(deps, entry.workflowId ?? entry.runId, datasetSha256);
    const tags: Record<string, string> = {
      'privacy_ledger.run_id': entry.runId,
      'privacy_ledger.days': `${entry.days.first}..${entry.days.last}`,
      'privacy_ledger.mechanism': JSON.stringify(entry.mechanism),
      'privacy_ledger.outcome': entry.outcome,
    };
    if (lifetimeEpsilon !== undefined) tags['privacy_ledger.lifetime_epsilon'] = String(lifetimeEpsilon ?? 'unbounded');
    await deps.mlflow.logBatch(run.info.run_id, { tags });
    await deps.mlflow.uploadArtifact(run.info, 'privacy/ledger-entry.json', JSON.stringify(entry, null, 2));
  }

  /** The ledger, this attempt's key, and the entry a retry of this attempt wrote before (if any). */
  async function ownEntry(): Promise<{ key: string; ledger: LedgerEntry[]; existing: LedgerEntry | undefined }> {
    const { workflowId, runId } = currentRun();
    const ledger = (await readLedger(deps.s3, bucket, prefix)).map((item) => item.entry);
    return { key: ledgerEntryKey(prefix, workflowId, runId), ledger, existing: ledger.find((entry) => entry.runId === runId) };
  }

  function newEntry(
    privacy: PrivacySettings,
    days: LedgerEntry['days'],
    delta: number,
    mechanism: LedgerMechanism,
    existing?: LedgerEntry,
  ) {
    const { workflowId, runId } = currentRun();
    const recordedAt = existing?.recordedAt ?? new Date().toISOString();
    return { runId, workflowId, unit: privacy.unit, days, recordedAt, outcome: 'training', delta, mechanism } satisfies LedgerEntry;
  }

  /** A non-retryable PrivacyBudgetExceeded naming what the attempt would take past which budget. */
  function refuse(check: BudgetCheck, budget: LedgerBudget, what: string): never {
    const scope = budget.unit === 'card' ? `per card over ${budget.periodDays} days` : 'per event day';
    throw ApplicationFailure.create({
      type: PRIVACY_BUDGET_EXCEEDED,
      nonRetryable: true,
      message:
        `privacy budget exceeded: this run would take ${describeExceeded(check.exceeded)} past ${what} ${budget.epsilon} ` +
        `(${scope}, δ ${budget.delta}); nothing was trained and the champion keeps serving (see \`fraudops privacy ledger\`)`,
      details: [{ exceeded: check.exceeded.map((e) => ('day' in e ? e.day : e.period)), budget }],
    });
  }

  /**
   * Writes the entry unless a first attempt would take a day (or the card period) past the lifetime budget: then
   * PrivacyBudgetExceeded and nothing is written. A retry's entry stands as written. A non-private run is the
   * operator's explicit choice: recorded, never refused.
   */
  async function admit(key: string, ledger: LedgerEntry[], entry: LedgerEntry, privacy: PrivacySettings, retry: boolean) {
    const budget = budgetOf(privacy);
    const check = checkBudget(ledger, entry, budget, new Date());
    if (!retry && check.exceeded.length && entry.mechanism.kind !== 'non-private') refuse(check, budget, 'privacy.lifetimeEpsilon');
    await writeLedgerEntry(deps.s3, bucket, key, entry);
    return check;
  }

  return {
    async reservePrivacy(input: ReservePrivacyInput): Promise<PrivacyReservation> {
      const { privacy } = input;
      const { key, ledger, existing } = await ownEntry();
      // A retry: the entry written before is what the training must use.
      const { mechanism, bound } = existing ? { mechanism: existing.mechanism, bound: null } : scheduledMechanism(input);
      const days = { first: input.split.periods.train.from, last: input.split.periods.train.to };
      const entry = newEntry(privacy, days, privacy.delta, mechanism, existing);
      const check = await admit(key, ledger, entry, privacy, existing !== undefined);
      await mirror(entry, input.datasetSha256, check.worst.epsilon);
      deps.log.info({ key, mechanism, lifetimeEpsilon: check.worst.epsilon, on: where(check.worst) }, 'privacy reserved in the ledger');
      return {
        noiseMultiplier: mechanism.kind === 'poisson-gaussian' ? mechanism.noiseMultiplier : null,
        bound,
        entryKey: key,
        lifetimeEpsilon: check.worst.epsilon,
        worstOn: where(check.worst),
      };
    },

    /**
     * A private search's privacy, charged before any trial: every trial mechanism its space allows (σ at the tuning
     * ε), the score's noise, the law of the number of trials; the entry covers every day a trial reads (validation
     * through training). Refused past privacy.tuningEpsilon (the searches on a day together, at δ/2: the share the
     * schedule leaves them) or past the lifetime budget. Only then are the number of trials and each trial's
     * candidate drawn, from the CSPRNG (a retry draws afresh: what a failed attempt drew was never used).
     */
    async reserveTuningPrivacy(input: ReserveTuningPrivacyInput): Promise<TuningReservation> {
      const { data, settings } = input;
      const { privacy } = settings;
      const mechanisms = trialMechanisms(input.space, input.options, data.counts);
      const sensitivity = hitsSensitivity(privacy.unit, data.validationDays);
      const score = { sensitivity, sigma: hitsNoiseSigma(settings.scoreNoiseMultiplier, sensitivity) };
      const distribution = trialCountDistribution(settings.trialCount, input.meanTrials);
      const { key, ledger, existing } = await ownEntry();
      const mechanism = existing?.mechanism ?? searchPrivacy(mechanisms, score, distribution, settings.delta).ledger;
      const days = { first: data.periods.validation.from, last: data.periods.train.to };
      const entry = newEntry(privacy, days, settings.delta, mechanism, existing);
      if (!existing) {
        const share = { ...budgetOf(privacy), epsilon: privacy.tuningEpsilon ?? 0, delta: privacy.delta / 2 };
        const searches = ledger.filter((e) => e.mechanism.kind === 'approximate-dp');
        const shared = checkBudget(searches, entry, share, new Date());
        if (shared.exceeded.length) refuse(shared, share, 'privacy.tuningEpsilon');
      }
      const check = await admit(key, ledger, entry, privacy, existing !== undefined);
      const epsilon = mechanism.kind === 'approximate-dp' ? mechanism.epsilon : Number.NaN;
      await deps.mlflow.logBatch(input.parentRunId, {
        params: {
          privacy_epsilon: epsilon,
          privacy_delta: settings.delta,
          privacy_trial_count: `${settings.trialCount}, mean ${input.meanTrials} (the number drawn is kept secret)`,
          privacy_score_noise: JSON.stringify({ ...score, k: settings.k, days: data.validationDays }),
          ledger_entry: key,
          ledger_days: `${entry.days.first}..${entry.days.last}`,
        },
        tags: { 'privacy_ledger.lifetime_epsilon': String(check.worst.epsilon ?? 'unbounded') },
      });
      const run = await deps.mlflow.getRun(input.parentRunId);
      await deps.mlflow.uploadArtifact(run.info, 'privacy/trial-mechanisms.json', JSON.stringify({ mechanisms, score }, null, 2));
      deps.log.info(
        { key, epsilon, lifetimeEpsilon: check.worst.epsilon, on: where(check.worst) },
        'tuning privacy reserved in the ledger',
      );
      const trials = drawTrialCount(distribution, secureUniform);
      return {
        candidates: secretCandidates(input.space, trials),
        mechanisms,
        score,
        epsilon,
        delta: settings.delta,
        entryKey: key,
        lifetimeEpsilon: check.worst.epsilon,
        worstOn: where(check.worst),
      };
    },

    /**
     * How the attempt ended; a promotion marks the entries of earlier champions superseded. A pipeline run's entry is
     * mirrored to its MLflow run (datasetSha256); a tuning search's parent run holds its figures already.
     */
    async recordPrivacyOutcome(input: {
      entryKey: string;
      datasetSha256?: string;
      outcome: LedgerOutcome;
      modelVersion?: string;
    }): Promise<void> {
      const ledger = await readLedger(deps.s3, bucket, prefix);
      const own = ledger.find((item) => item.key === input.entryKey);
      if (!own) throw new Error(`no ledger entry at ${input.entryKey}`);
      const entry: LedgerEntry = {
        ...own.entry,
        outcome: input.outcome,
        ...(input.modelVersion ? { modelVersion: input.modelVersion } : {}),
      };
      await writeLedgerEntry(deps.s3, bucket, own.key, entry);
      if (input.outcome === 'promoted') {
        for (const other of ledger) {
          if (other.key !== own.key && other.entry.outcome === 'promoted') {
            await writeLedgerEntry(deps.s3, bucket, other.key, { ...other.entry, outcome: 'superseded' });
          }
        }
      }
      if (input.datasetSha256 === undefined) return;
      await mirror(entry, input.datasetSha256);
      if (input.outcome === 'failed') {
        const { run } = await pipelineRun(deps, entry.workflowId ?? entry.runId, input.datasetSha256);
        if (run.info.status === 'RUNNING') await deps.mlflow.finishRun(run.info.run_id, 'FAILED');
      }
    },
  };
}
