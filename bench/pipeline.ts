// 1 M simulated transactions in Kafka → a registered, promoted model (auto-approval), through the real pipeline:
// `fraudops worker cpu` and `worker gpu` as processes, the stack's Kafka, S3, MLflow and Temporal. Prints one JSON
// object: total wall time from trigger to result, and the time of each step. Producing the data is not timed.
//   node --import tsx bench/pipeline.ts [--days 104]   (5000 customers × 104 days ≈ 1 M transactions)
import { performance } from 'node:perf_hooks';
import { connectTemporal } from '../clients/temporal';
import { startPipeline } from '../temporal/pipeline';
import { createPipelineEnv } from '../tests/integration/pipeline-env';
import type { PipelineResult } from '../workflows/training-pipeline';

async function main(): Promise<void> {
  const days = Number(process.argv[process.argv.indexOf('--days') + 1] ?? 104) || 104;
  const env = createPipelineEnv((s) => {
    // The configured training (DP-SGD, ε = 1, 30 epochs), not the tests' small one.
    const defaults = { epochs: 30, hidden: [64, 32], checkpointEverySeconds: 10 };
    Object.assign(s.pipeline.training, defaults);
    s.pipeline.trainingHeartbeatTimeout = '1m';
  });
  try {
    const produced = await env.cli(['produce', '--simulate', '--days', String(days)]);
    if (produced.code !== 0) throw new Error(produced.stderr);
    const transactions = Number(/sent (\d+) transactions/.exec(produced.stdout + produced.stderr)?.[1]);
    env.startWorker('cpu');
    env.startWorker('gpu');
    const client = await connectTemporal(env.config);
    const started = performance.now();
    const run = await startPipeline(client, env.config, { autoApprove: true });
    const result: PipelineResult = await client.workflow.getHandle(run.workflowId).result();
    const total = (performance.now() - started) / 1000;
    console.log(
      JSON.stringify({
        transactions,
        kafka_messages: transactions * 2,
        total_seconds: Number(total.toFixed(1)),
        target_seconds: 120,
        stage: result.stage,
        model_version: result.modelVersion,
        train_device: result.trainDevice,
        seconds: result.seconds,
        dataset_rows: result.dataset.rows,
        average_precision: result.metrics.averagePrecision,
        epsilon: result.epsilon,
        steps: result.metrics.steps,
      }),
    );
    await client.connection.close();
  } finally {
    env.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
