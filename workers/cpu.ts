// The CPU pool: the pipeline's workflows (fraud-pipeline) and every activity (fraud-cpu), training included when
// no GPU worker takes it in time. Runs until SIGTERM/SIGINT, then drains: running activities get the grace time.
import { Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { Config } from '../config';
import { selectBackend } from '../ml/tensorflow';
import { graceTime, HEARTBEAT_THROTTLE, startWorkerRuntime } from './runtime';

export async function runCpuWorker(config: Config): Promise<void> {
  const { connection, deps, log, metricsUrl } = await startWorkerRuntime(config, 'worker-cpu', config.pipeline.workerMetricsPorts.cpu);
  await selectBackend(config.tensorflow.backend, (line) => log.info(line));
  const { namespace } = config.stack.temporal;
  const { taskQueues } = config.pipeline;
  const workflows = await Worker.create({
    connection,
    namespace,
    taskQueue: taskQueues.workflow,
    workflowsPath: require.resolve('../workflows'),
    shutdownGraceTime: graceTime(config),
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
  });
  const activities = await Worker.create({
    connection,
    namespace,
    taskQueue: taskQueues.cpu,
    activities: createActivities(deps, { device: 'cpu' }),
    shutdownGraceTime: graceTime(config),
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
  });
  log.info({ taskQueues: [taskQueues.workflow, taskQueues.cpu], metrics: metricsUrl }, 'cpu worker polling');
  try {
    await Promise.all([workflows.run(), activities.run()]);
  } finally {
    await connection.close();
    log.info('cpu worker stopped');
  }
}
