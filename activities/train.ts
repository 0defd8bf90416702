// Step 5: training in a child process (activities/train-job.ts), one per attempt: DP-SGD (families logistic, quadratic
// and mlp) or a DP-EBM (family ebm). Progress becomes heartbeats {epoch, step, checkpointKey, checkpointStep,
// epsilonSpent}; a retried DP-SGD attempt resumes from the run's last checkpoint in S3, and the trainer counts privacy
// over every step taken since the first attempt (an EBM has no checkpoint: see train-job.ts runEbmJob).
import { fork } from 'node:child_process';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { TrainerOptions } from '../ml/dpsgd';
import { ebmOptionsFor, trainerOptionsFor } from '../ml/experiment';
import type { TrainingSettings } from '../workflows/settings';
import type { TrainingSetRef } from './balance';
import { type ActivityDeps, runKey } from './deps';
import type { TrainJob, TrainJobMessage, TrainJobModel, TrainJobOutcome } from './train-job';

export interface TrainHeartbeat {
  epoch: number;
  step: number;
  totalSteps: number;
  /** The last durable checkpoint, or null before the first. */
  checkpointKey: string | null;
  /** The step that checkpoint holds (0 before the first; absent in heartbeats of older workers): `step` runs ahead of it. */
  checkpointStep?: number;
  /** ε at δ at that checkpoint (null when training is not private or before the first checkpoint). */
  epsilonSpent: number | null;
  resumedFromStep: number;
}

export interface TrainResult extends TrainJobOutcome {
  modelKey: string;
  /** The TrainDevice search attribute: 'cpu', 'gpu:<device name>' or 'cpu (gpu worker, --allow-cpu)'. */
  device: string;
  attempt: number;
  seconds: number;
}

/** Errors of the job that a retry cannot fix. */
const NON_RETRYABLE = new Set(['InvalidInputError']);

/** The trainer's options of a pipeline run: the ledger plans the mechanism from them before training. */
export function trainerOptionsOf(settings: TrainingSettings, training: Pick<TrainingSetRef, 'positives' | 'examples'>): TrainerOptions {
  return trainerOptionsFor(settings.options, training.positives, training.examples - training.positives);
}

/** The DP noise the privacy ledger reserved for the run, in place of a calibration to targetEpsilon. */
function withReservedNoise(options: TrainerOptions, noiseMultiplier: number | null | undefined): TrainerOptions {
  if (options.privacy.mode === 'off' || noiseMultiplier == null) return options;
  return { ...options, privacy: { ...options.privacy, noiseMultiplier, targetEpsilon: undefined } };
}

/** What the job trains for the run's family, with the σ the ledger reserved (`seededTraining`: tests only). */
export function trainJobModel(
  settings: TrainingSettings,
  training: Pick<TrainingSetRef, 'positives' | 'examples'>,
  noiseMultiplier: number | null | undefined,
): TrainJobModel {
  const insecureNoiseSeed = settings.seededTraining ? settings.options.seed : undefined;
  if (settings.options.family === 'ebm') {
    const ebm = ebmOptionsFor(settings.options);
    const reserved = ebm.dp && noiseMultiplier != null ? { noiseMultiplier } : {};
    return { family: 'ebm', ebmOptions: { ...ebm, ...reserved, insecureNoiseSeed } };
  }
  const trainerOptions = withReservedNoise(trainerOptionsOf(settings, training), noiseMultiplier);
  return { family: 'dp-sgd', trainerOptions: { ...trainerOptions, insecureNoiseSeed } };
}

/** `device` picks the job's TensorFlow backend (gpu: the CUDA binding); `label`, what TrainDevice reports (default: device). */
export interface TrainWorker {
  device: 'gpu' | 'cpu';
  label?: string;
}

export function createTrainActivities(deps: ActivityDeps, worker: TrainWorker) {
  return {
    /** `noiseMultiplier`: σ reserved in the privacy ledger (reservePrivacy); absent in runs started before the ledger. */
    async trainModel(input: {
      training: TrainingSetRef;
      settings: TrainingSettings;
      noiseMultiplier?: number | null;
    }): Promise<TrainResult> {
      const context = Context.current();
      const started = performance.now();
      const { settings } = input;
      const job: TrainJob = {
        ...trainJobModel(settings, input.training, input.noiseMultiplier),
        trainingKey: input.training.key,
        checkpointKey: runKey('checkpoint.bin'),
        modelKey: runKey('model.bin'),
        checkpointEverySeconds: settings.checkpointEverySeconds,
        device: worker.device,
      };
      const last = context.info.heartbeatDetails as TrainHeartbeat | undefined;
      const beat: TrainHeartbeat = {
        epoch: last?.epoch ?? 0,
        step: last?.step ?? 0,
        totalSteps: last?.totalSteps ?? 0,
        checkpointKey: last?.checkpointKey ?? null,
        checkpointStep: last?.checkpointStep ?? 0,
        epsilonSpent: last?.epsilonSpent ?? null,
        resumedFromStep: 0,
      };
      context.heartbeat(beat);

      const child = fork(path.join(__dirname, 'train-job.ts'), [], {
        execArgv: ['--require', require.resolve('tsx/cjs')],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
      });
      child.send(job);
      const onCancel = () => child.kill('SIGTERM');
      context.cancellationSignal.addEventListener('abort', onCancel);
      try {
        const outcome = await new Promise<TrainJobOutcome>((resolve, reject) => {
          let result: TrainJobOutcome | undefined;
          let failure: Error | undefined;
          child.on('message', (message: TrainJobMessage) => {
            switch (message.type) {
              case 'started':
                Object.assign(beat, {
                  resumedFromStep: message.resumedFromStep,
                  totalSteps: message.totalSteps,
                  step: message.resumedFromStep,
                });
                deps.log.info(
                  { ...beat, backend: message.backend, device: worker.label ?? worker.device, attempt: context.info.attempt },
                  'training started',
                );
                context.heartbeat(beat);
                break;
              case 'progress':
                Object.assign(beat, { epoch: message.progress.epoch, step: message.progress.step });
                context.heartbeat(beat);
                break;
              case 'checkpoint':
                Object.assign(beat, {
                  epoch: message.progress.epoch,
                  step: message.progress.step,
                  checkpointKey: message.key,
                  checkpointStep: message.progress.step,
                  epsilonSpent: message.progress.epsilonSpent,
                });
                context.heartbeat(beat);
                break;
              case 'done':
                result = message.outcome;
                break;
              case 'failed':
                failure = NON_RETRYABLE.has(message.name)
                  ? ApplicationFailure.create({ type: message.name, message: message.message, nonRetryable: true })
                  : Object.assign(new Error(message.message), { name: message.name });
                break;
            }
          });
          child.on('error', reject);
          child.on('exit', (code, signal) => {
            if (result) resolve(result);
            else reject(failure ?? new Error(`the training process ended without a result (exit code ${code}, signal ${signal})`));
          });
        });
        return {
          ...outcome,
          modelKey: job.modelKey,
          device: worker.label ?? worker.device,
          attempt: context.info.attempt,
          seconds: (performance.now() - started) / 1000,
        };
      } finally {
        context.cancellationSignal.removeEventListener('abort', onCancel);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    },
  };
}
