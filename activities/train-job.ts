// The training child process (one per training attempt): reads the training examples from S3, resumes from the
// run's checkpoint when one exists, trains with DP-SGD, checkpoints to S3 every few seconds and at the last step, then
// writes the model. Family ebm trains a DP-EBM instead, without checkpoints (runEbmJob).
// It talks to the activity over the IPC channel (TrainJobMessage) and exits when that channel closes, so a killed
// worker never leaves an orphan training.
import { objectExists } from '../clients/snapshot-store';
import { loadConfig } from '../config';
import { DpSgdTrainer, type PrivacySpent, type TrainerOptions, type TrainingProgress } from '../ml/dpsgd';
import { type EbmFamilyOptions, ebmReleases, ebmSettingsOf, trainEbmFamily } from '../ml/ebm';
import { featureSetOf } from '../ml/feature-set';
import { selectBackend } from '../ml/tensorflow';
import { transformWidth } from '../ml/transforms';
import { resolveDeclaration } from '../records';
import { loadTraining } from './balance';
import { type ActivityDeps, createActivityDeps, getRunObject, putRunObject } from './deps';
import { decodeEbmRecord, encodeEbmModel, encodeModel } from './model-file';

/** What the job trains: DP-SGD (families logistic, quadratic and mlp) or an EBM. */
export type TrainJobModel =
  | { family: 'dp-sgd'; trainerOptions: TrainerOptions }
  | { family: 'ebm'; ebmOptions: Omit<EbmFamilyOptions, 'onRound'> };

export type TrainJob = TrainJobModel & {
  trainingKey: string;
  checkpointKey: string;
  modelKey: string;
  checkpointEverySeconds: number;
  device: 'gpu' | 'cpu';
};

/** EBM: steps are histogram releases (ebmReleases) and epochs boosting rounds. */
export interface TrainJobOutcome {
  steps: number;
  totalSteps: number;
  epochs: number;
  resumedFromStep: number;
  backend: string;
  spent: PrivacySpent | null;
  /** What the family's guarantee rests on beyond the balance step's assumptions (EBM); absent for DP-SGD. */
  assumptions?: string[];
}

export type TrainJobMessage =
  | { type: 'started'; resumedFromStep: number; totalSteps: number; backend: string }
  | { type: 'progress'; progress: TrainingProgress }
  | { type: 'checkpoint'; progress: TrainingProgress; key: string }
  | { type: 'done'; outcome: TrainJobOutcome }
  | { type: 'failed'; name: string; message: string };

/** A copy that can cross IPC; ε is read (and so computed: up to ~1 s with PLD) only when asked for. */
const plain = (progress: TrainingProgress, withEpsilon: boolean): TrainingProgress => ({
  epoch: progress.epoch,
  step: progress.step,
  totalSteps: progress.totalSteps,
  loss: progress.loss,
  epsilonSpent: withEpsilon ? progress.epsilonSpent : null,
});

const send = (message: TrainJobMessage) => process.send?.(message);

/**
 * A DP-EBM trains in seconds, so it takes no checkpoint: a retried attempt trains from scratch, which is sound since
 * the failed attempt released nothing. Once the model is written, though, a retry keeps it and the outcome stored with
 * it (no fresh noise: exactly one accounted model per run).
 */
async function runEbmJob(deps: ActivityDeps, job: TrainJob & { family: 'ebm' }): Promise<TrainJobOutcome> {
  const options = job.ebmOptions;
  const training = await loadTraining(deps, job.trainingKey);
  const inputs = transformWidth(training.transform);
  const { rounds } = ebmSettingsOf(options.dp, options.ebm);
  const totalSteps = ebmReleases(inputs, rounds);
  const backend = 'js';
  const outcome = (resumedFromStep: number, record: { spent: PrivacySpent | null; assumptions: string[] }): TrainJobOutcome => ({
    steps: totalSteps,
    totalSteps,
    epochs: rounds,
    resumedFromStep,
    backend,
    ...record,
  });
  if (await objectExists(deps.s3, deps.config.stack.s3.bucket, job.modelKey)) {
    const record = decodeEbmRecord(await getRunObject(deps, job.modelKey));
    if (!record) throw new Error(`${job.modelKey}: not an EBM model file`);
    send({ type: 'started', resumedFromStep: totalSteps, totalSteps, backend });
    return outcome(totalSteps, record);
  }
  send({ type: 'started', resumedFromStep: 0, totalSteps, backend });
  let lastReport = performance.now();
  const onRound = (round: number) => {
    if (performance.now() - lastReport < 1000) return;
    send({
      type: 'progress',
      progress: { epoch: round, step: ebmReleases(inputs, round), totalSteps, loss: Number.NaN, epsilonSpent: null },
    });
    lastReport = performance.now();
  };
  // The bins come from the declared bounds of the records (public), as the features step's inputs do.
  const set = featureSetOf(resolveDeclaration(deps.config.records));
  const trained = trainEbmFamily(training, set, { ...options, onRound });
  const record = { spent: trained.spent, assumptions: trained.assumptions };
  await putRunObject(deps, job.modelKey, encodeEbmModel(trained.parameters, record));
  return outcome(0, record);
}

async function runJob(job: TrainJob): Promise<TrainJobOutcome> {
  const config = loadConfig();
  const deps = createActivityDeps(config, 'train-job');
  if (job.family === 'ebm') return runEbmJob(deps, job);
  const logLine = (line: string) => deps.log.info(line);
  const backend = await selectBackend(job.device === 'gpu' ? 'gpu' : config.tensorflow.backend, logLine);
  const training = await loadTraining(deps, job.trainingKey);
  const data = { x: training.x, y: training.y, rows: training.rows, cols: transformWidth(training.transform), groups: training.groups };
  const resume = await objectExists(deps.s3, config.stack.s3.bucket, job.checkpointKey);
  const trainer = resume
    ? DpSgdTrainer.resume(new Uint8Array(await getRunObject(deps, job.checkpointKey)), data)
    : DpSgdTrainer.create(data, job.trainerOptions);
  const resumedFromStep = trainer.stepsTaken;
  send({ type: 'started', resumedFromStep, totalSteps: trainer.totalSteps, backend });

  // One upload at a time: a checkpoint is only taken when the previous one is durable.
  let uploading: Promise<void> | undefined;
  let lastCheckpoint = performance.now();
  const checkpoint = (progress: TrainingProgress) => {
    const bytes = trainer.checkpoint();
    const at = plain(progress, true);
    uploading = putRunObject(deps, job.checkpointKey, bytes).then(() => {
      send({ type: 'checkpoint', progress: at, key: job.checkpointKey });
      uploading = undefined;
    });
    lastCheckpoint = performance.now();
  };
  try {
    let lastReport = 0;
    const parameters = await trainer.run((progress) => {
      if (performance.now() - lastReport >= 1000) {
        send({ type: 'progress', progress: plain(progress, false) });
        lastReport = performance.now();
      }
      if (!uploading && performance.now() - lastCheckpoint >= job.checkpointEverySeconds * 1000) checkpoint(progress);
    });
    await uploading;
    // The final step's checkpoint is durable before the model exists: a retry after this point (the worker died
    // before the activity completed) resumes at the last step, draws no noise and keeps the one model written.
    const spent = trainer.privacySpent();
    const alreadyDone = resume && resumedFromStep === trainer.totalSteps;
    if (!alreadyDone) {
      await putRunObject(deps, job.checkpointKey, trainer.checkpoint());
      const { stepsTaken: step, totalSteps } = trainer;
      const last = { epoch: job.trainerOptions.epochs, step, totalSteps, loss: Number.NaN, epsilonSpent: spent?.epsilon ?? null };
      send({ type: 'checkpoint', progress: last, key: job.checkpointKey });
    }
    if (!(alreadyDone && (await objectExists(deps.s3, config.stack.s3.bucket, job.modelKey))))
      await putRunObject(deps, job.modelKey, encodeModel(parameters));
    return {
      steps: trainer.stepsTaken,
      totalSteps: trainer.totalSteps,
      epochs: job.trainerOptions.epochs,
      resumedFromStep,
      backend,
      spent,
    };
  } finally {
    trainer.dispose();
  }
}

if (require.main === module) {
  let finished = false;
  // The activity (our parent) is gone: nobody will use the result, so stop at once.
  process.on('disconnect', () => process.exit(finished ? 0 : 1));
  process.once('message', (job: TrainJob) => {
    runJob(job).then(
      (outcome) => {
        finished = true;
        process.send?.({ type: 'done', outcome } satisfies TrainJobMessage, () => process.disconnect?.());
      },
      (err: Error) => {
        process.send?.({ type: 'failed', name: err.name, message: err.message } satisfies TrainJobMessage, () => process.disconnect?.());
      },
    );
  });
}
