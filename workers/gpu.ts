// The GPU pool: training only (fraud-gpu), one child process per job and at most `pipeline.gpus` jobs at once.
// It serves only where the CUDA binding loads and TensorFlow lists a GPU (workers/gpu-device.ts); elsewhere it
// refuses to start, unless --allow-cpu lets it train on the CPU backend, which its log and every run's TrainDevice
// then say. Drains on SIGTERM like the CPU pool.
import { Worker } from '@temporalio/worker';
import { createTrainActivities } from '../activities/train';
import { createTuningActivities } from '../activities/tuning';
import type { Config } from '../config';
import { gpuServing, probeGpu } from './gpu-device';
import { graceTime, HEARTBEAT_THROTTLE, startWorkerRuntime } from './runtime';

/** The GPU worker will not serve here (no usable GPU and no --allow-cpu). */
export class NoUsableGpuError extends Error {
  override name = 'NoUsableGpuError';
}

export async function runGpuWorker(config: Config, options: { allowCpu: boolean }): Promise<void> {
  const serving = gpuServing(await probeGpu(), options.allowCpu);
  if (!serving.serve) throw new NoUsableGpuError(serving.message);
  const { connection, deps, log, metricsUrl } = await startWorkerRuntime(config, 'worker-gpu', config.pipeline.workerMetricsPorts.gpu);
  const logged = { device: serving.trainDevice, backend: serving.backend };
  if (serving.backend === 'gpu') log.info(logged, serving.message);
  else log.warn(logged, serving.message);
  const worker = await Worker.create({
    connection,
    namespace: config.stack.temporal.namespace,
    taskQueue: config.pipeline.taskQueues.gpu,
    activities: {
      ...createTrainActivities(deps, { device: serving.backend, label: serving.trainDevice }),
      // Tuning trials (workflows/tuning.ts) share the pool's job slots with training.
      ...createTuningActivities(deps, { device: serving.backend, label: serving.trainDevice }),
    },
    maxConcurrentActivityTaskExecutions: config.pipeline.gpus,
    shutdownGraceTime: graceTime(config),
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
  });
  log.info({ taskQueue: config.pipeline.taskQueues.gpu, jobs: config.pipeline.gpus, metrics: metricsUrl, ...logged }, 'gpu worker polling');
  try {
    await worker.run();
  } finally {
    await connection.close();
    log.info('gpu worker stopped');
  }
}
