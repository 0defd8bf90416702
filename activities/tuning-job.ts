// One tuning trial in a child process (activities/tuning.ts forks it per attempt). Public data: the tuning data of
// each seed (simulated once per worker, then from ml/tuning/data-cache.ts's disk cache), scored by validation AP.
// Private data: the search's split from S3, trained with the noise the ledger reserved, scored by the noisy card
// precision (ml/tuning/private-score.ts); its exact metrics never leave this process. Trains with
// runExperimentOnSplits on the worker's TensorFlow backend. Talks to the activity over IPC (TuningJobMessage) and
// exits when that channel closes, so a killed worker leaves no orphan trial.
import { createS3, getObjectBuffer } from '../clients/s3';
import { type Config, loadConfig } from '../config';
import { InvalidInputError } from '../ml/errors';
import { type ExperimentOptions, runExperimentOnSplits, type SplitFeatures } from '../ml/experiment';
import type { ProtocolOptions } from '../ml/protocol';
import { selectBackend } from '../ml/tensorflow';
import { cachedTuningSplits } from '../ml/tuning/data-cache';
import { dailyCardHits, noisyCardPrecision } from '../ml/tuning/private-score';
import { reservedNoise, trialPlan } from '../ml/tuning/private-search';
import { decodeSplit } from './features';
import type { PublicTuningData, TrialData } from './tuning';

export interface TuningJob {
  options: Omit<ExperimentOptions, 'protocol'>;
  shape: Omit<ProtocolOptions, 'trainStart'>;
  data: TrialData;
  device: 'gpu' | 'cpu';
}

export interface ValidationScores {
  averagePrecision: number;
  aucRoc: number;
  cardPrecisionAt100: number;
}

export interface TuningJobOutcome {
  /** What the search ranks by: the mean validation AP (public), or the noisy card precision (private). */
  objective: number;
  /** Exact means over the seeds: public data only. */
  validation: ValidationScores | null;
  perSeed: Array<ValidationScores & { seed: number; rows: number; frauds: number; dataFromCache: boolean }>;
  /** ε of one training run at δ (null without DP). */
  epsilon: number | null;
  backend: string;
}

export type TuningJobMessage =
  | { type: 'progress'; seed: number | null; stage: 'simulate' | 'load' | 'train'; epoch?: number; totalSteps?: number; step?: number }
  | { type: 'done'; outcome: TuningJobOutcome }
  | { type: 'failed'; name: string; message: string };

const send = (message: TuningJobMessage) => process.send?.(message);
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** Trains on the splits (validation rows in the test slot), sending progress at most once a second. */
function trainOn(splits: SplitFeatures, job: TuningJob, seed: number | null, options: TuningJob['options'] = job.options) {
  let last = 0;
  return runExperimentOnSplits(splits, { ...options, protocol: { ...job.shape, trainStart: splits.periods.train.from } }, (p) => {
    if (performance.now() - last < 1000) return;
    last = performance.now();
    send({ type: 'progress', seed, stage: 'train', epoch: p.epoch, step: p.step, totalSteps: p.totalSteps });
  });
}

async function runPublicJob(job: TuningJob, data: PublicTuningData): Promise<Omit<TuningJobOutcome, 'backend'>> {
  const perSeed: TuningJobOutcome['perSeed'] = [];
  let epsilon: number | null = null;
  for (const seed of data.seeds) {
    send({ type: 'progress', seed, stage: 'simulate' });
    const { splits, hit } = cachedTuningSplits({ ...data, seed }, job.shape);
    const result = await trainOn(splits, job, seed);
    // result.test holds the validation rows (tuningSplits): the public test period is never scored.
    const { averagePrecision, aucRoc, cardPrecisionAt100, rows, frauds } = result.test;
    perSeed.push({ seed, averagePrecision, aucRoc, cardPrecisionAt100, rows, frauds, dataFromCache: hit });
    epsilon = result.privacy.perRun?.epsilon ?? null;
  }
  const validation = {
    averagePrecision: mean(perSeed.map((s) => s.averagePrecision)),
    aucRoc: mean(perSeed.map((s) => s.aucRoc)),
    cardPrecisionAt100: mean(perSeed.map((s) => s.cardPrecisionAt100)),
  };
  return { objective: validation.averagePrecision, validation, perSeed, epsilon };
}

async function runPrivateJob(
  job: TuningJob,
  data: Extract<TrialData, { source: 'private' }>,
  config: Config,
): Promise<Omit<TuningJobOutcome, 'backend'>> {
  send({ type: 'progress', seed: null, stage: 'load' });
  const splits = decodeSplit(await getObjectBuffer(createS3(config), config.stack.s3.bucket, data.key));
  if (splits.train.rows !== data.counts.rows || splits.train.cards !== data.counts.cards) {
    throw new InvalidInputError(`split ${data.key}: its counts differ from those the search reserved its privacy for`);
  }
  const noiseMultiplier = reservedNoise(data.mechanisms, trialPlan(job.options, data.counts));
  const result = await trainOn(splits, job, null, { ...job.options, noiseMultiplier });
  const rows = { score: result.testScores.scores, card: splits.test.customerId, day: splits.test.day, label: splits.test.y };
  const objective = noisyCardPrecision(dailyCardHits(rows, data.score.k), data.score.k, data.score.days, data.score.sigma);
  return { objective, validation: null, perSeed: [], epsilon: result.privacy.perRun?.epsilon ?? null };
}

async function runJob(job: TuningJob): Promise<TuningJobOutcome> {
  const config = loadConfig();
  const backend = await selectBackend(job.device === 'gpu' ? 'gpu' : config.tensorflow.backend, () => undefined);
  const outcome = job.data.source === 'public' ? await runPublicJob(job, job.data) : await runPrivateJob(job, job.data, config);
  return { ...outcome, backend };
}

if (require.main === module) {
  process.on('disconnect', () => process.exit(1));
  process.once('message', (job: TuningJob) => {
    runJob(job).then(
      (outcome) => process.send?.({ type: 'done', outcome } satisfies TuningJobMessage, () => process.disconnect?.()),
      (err: Error) =>
        process.send?.({ type: 'failed', name: err.name, message: err.message } satisfies TuningJobMessage, () => process.disconnect?.()),
    );
  });
}
