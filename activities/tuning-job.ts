// One tuning trial in a child process (activities/tuning.ts forks it per attempt): reads the public tuning data of
// each seed (simulated once per worker, then from ml/tuning/data-cache.ts's disk cache), trains the candidate with
// runExperimentOnSplits on the worker's TensorFlow backend, and scores it on the validation rows. Talks to the activity
// over IPC (TuningJobMessage) and exits when that channel closes, so a killed worker leaves no orphan trial.
import { loadConfig } from '../config';
import { type ExperimentOptions, runExperimentOnSplits } from '../ml/experiment';
import type { ProtocolOptions } from '../ml/protocol';
import { selectBackend } from '../ml/tensorflow';
import { cachedTuningSplits } from '../ml/tuning/data-cache';
import type { PublicDataSpec } from '../ml/tuning/public-data';

export interface TuningJob {
  options: Omit<ExperimentOptions, 'protocol'>;
  shape: Omit<ProtocolOptions, 'trainStart'>;
  data: Omit<PublicDataSpec, 'seed'> & { seeds: number[] };
  device: 'gpu' | 'cpu';
}

export interface ValidationScores {
  averagePrecision: number;
  aucRoc: number;
  cardPrecisionAt100: number;
}

export interface TuningJobOutcome {
  /** Means over the seeds. */
  validation: ValidationScores;
  perSeed: Array<ValidationScores & { seed: number; rows: number; frauds: number; dataFromCache: boolean }>;
  /** ε of one training run at δ (null without DP). */
  epsilon: number | null;
  backend: string;
}

export type TuningJobMessage =
  | { type: 'progress'; seed: number; stage: 'simulate' | 'train'; epoch?: number; totalSteps?: number; step?: number }
  | { type: 'done'; outcome: TuningJobOutcome }
  | { type: 'failed'; name: string; message: string };

const send = (message: TuningJobMessage) => process.send?.(message);
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

async function runJob(job: TuningJob): Promise<TuningJobOutcome> {
  const config = loadConfig();
  const backend = await selectBackend(job.device === 'gpu' ? 'gpu' : config.tensorflow.backend, () => undefined);
  const perSeed: TuningJobOutcome['perSeed'] = [];
  let epsilon: number | null = null;
  for (const seed of job.data.seeds) {
    send({ type: 'progress', seed, stage: 'simulate' });
    const { splits, hit } = cachedTuningSplits({ ...job.data, seed }, job.shape);
    let last = 0;
    const result = await runExperimentOnSplits(
      splits,
      { ...job.options, protocol: { ...job.shape, trainStart: splits.periods.train.from } },
      (p) => {
        if (performance.now() - last < 1000) return;
        last = performance.now();
        send({ type: 'progress', seed, stage: 'train', epoch: p.epoch, step: p.step, totalSteps: p.totalSteps });
      },
    );
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
  return { validation, perSeed, epsilon, backend };
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
