// `fraudops worker cpu|gpu`: a Temporal worker of the training pipeline, in the foreground (Ctrl-C/SIGTERM drains).
import type { Command } from 'commander';
import { loadConfig } from '../config';

export function registerWorkerCommands(program: Command): void {
  const worker = program
    .command('worker')
    .description(
      "Run a Temporal worker of the training pipeline in the foreground. Logs are JSON lines on stdout; the SDK's " +
        'Prometheus metrics are served on pipeline.workerMetricsPorts; SIGTERM or Ctrl-C stops polling and gives running ' +
        'activities pipeline.shutdownGraceSeconds to finish.',
    );
  worker
    .command('cpu')
    .description('poll the workflow queue (pipeline.taskQueues.workflow) and the CPU activity queue (every step)')
    .action(async () => {
      // Loaded on use: the worker SDK's native core is only needed here.
      const { runCpuWorker }: typeof import('../workers/cpu') = require('../workers/cpu');
      await runCpuWorker(loadConfig());
    });
  worker
    .command('gpu')
    .description(
      'poll the GPU queue (training only, pipeline.gpus jobs at once) with the CUDA build of libtensorflow; refuses to ' +
        'start (exit 1) where it loads no GPU, unless --allow-cpu',
    )
    .option(
      '--allow-cpu',
      "without a usable GPU, serve the GPU queue on the CPU backend anyway; the log and each run's TrainDevice say so " +
        '(`make up` and the tests on GPU-less hosts)',
      false,
    )
    .action(async (options: { allowCpu: boolean }) => {
      const { runGpuWorker }: typeof import('../workers/gpu') = require('../workers/gpu');
      await runGpuWorker(loadConfig(), { allowCpu: options.allowCpu });
    });
}
