// The GPU pool: training only (fraud-gpu), one child process per job and at most `pipeline.gpus` jobs at once.
// On a host with an NVIDIA device and @tensorflow/tfjs-node-gpu installed, training uses the GPU backend; anywhere
// else the worker says so and trains on the CPU backend. Drains on SIGTERM like the CPU pool.
import { existsSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { createTrainActivities } from '../activities/train';
import type { Config } from '../config';
import { graceTime, HEARTBEAT_THROTTLE, startWorkerRuntime } from './runtime';

/** Why the GPU backend can or cannot be used here. */
export function detectGpu(): { available: boolean; reason: string } {
  if (!existsSync('/dev/nvidiactl')) return { available: false, reason: 'no NVIDIA device (/dev/nvidiactl is missing)' };
  try {
    require.resolve('@tensorflow/tfjs-node-gpu');
  } catch {
    return { available: false, reason: 'an NVIDIA device is present but @tensorflow/tfjs-node-gpu is not installed' };
  }
  return { available: true, reason: 'NVIDIA device and @tensorflow/tfjs-node-gpu found' };
}

export async function runGpuWorker(config: Config): Promise<void> {
  const { connection, deps, log, metricsUrl } = await startWorkerRuntime(config, 'worker-gpu', config.pipeline.workerMetricsPorts.gpu);
  const gpu = detectGpu();
  const device = gpu.available ? 'gpu' : 'cpu';
  if (gpu.available) log.info({ device }, `training on the GPU TensorFlow backend: ${gpu.reason}`);
  else log.warn({ device }, `training on the CPU TensorFlow backend: ${gpu.reason}`);
  const worker = await Worker.create({
    connection,
    namespace: config.stack.temporal.namespace,
    taskQueue: config.pipeline.taskQueues.gpu,
    activities: createTrainActivities(deps, { device }),
    maxConcurrentActivityTaskExecutions: config.pipeline.gpus,
    shutdownGraceTime: graceTime(config),
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
  });
  log.info({ taskQueue: config.pipeline.taskQueues.gpu, jobs: config.pipeline.gpus, metrics: metricsUrl }, 'gpu worker polling');
  try {
    await worker.run();
  } finally {
    await connection.close();
    log.info('gpu worker stopped');
  }
}
