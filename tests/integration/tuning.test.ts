// `fraudops tune` on the real stack (Temporal, MLflow, S3): a small search on tiny public data over both pools, the
// GPU worker (--allow-cpu here) killed with SIGKILL mid-trial and started again, its trial retried to completion;
// the MLflow parent run holds the child runs and the best config, and pipeline.training.fromTuning reads it back.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Client, defaultPayloadConverter } from '@temporalio/client';
import type { BestConfig, TrialHeartbeat } from '../../activities/tuning';
import { MlflowClient } from '../../clients/mlflow';
import { connectTemporal } from '../../clients/temporal';
import { candidateOptions } from '../../ml/tuning/space';
import { pipelineSettings } from '../../temporal/pipeline';
import { readTunedConfig } from '../../temporal/tuned-config';
import { ALLOWED_CPU_DEVICE } from '../../workers/gpu-device';
import type { TuningSearchResult } from '../../workflows/tuning';
import { createPipelineEnv, type PipelineEnv, until } from './pipeline-env';

async function runningSearch(client: Client, taskQueue: string): Promise<string | undefined> {
  for await (const run of client.workflow.list({ query: "WorkflowType = 'tuningSearch' AND ExecutionStatus = 'Running'" })) {
    if (run.taskQueue === taskQueue) return run.workflowId;
  }
  return undefined;
}

/** The heartbeat of a trial the GPU worker runs in its first attempt, when there is one. */
async function gpuTrialBeat(client: Client, workflowId: string): Promise<TrialHeartbeat | undefined> {
  const { raw } = await client.workflow.getHandle(workflowId).describe();
  for (const pending of raw.pendingActivities ?? []) {
    const payload = pending.heartbeatDetails?.payloads?.[0];
    const beat = payload ? defaultPayloadConverter.fromPayload<TrialHeartbeat>(payload) : undefined;
    if (beat?.device === ALLOWED_CPU_DEVICE && pending.attempt === 1) return beat;
  }
  return undefined;
}

describe('fraudops tune on the real stack (both pools, a worker killed mid-trial)', () => {
  let env: PipelineEnv;
  let client: Client;
  let mlflow: MlflowClient;
  let cacheDir: string | undefined;

  before(async () => {
    env = createPipelineEnv((s) => {
      s.pipeline.schedule.days = 3;
      // Long enough for a GPU worker started after the kill to take the retry; 5 s of silence marks a worker dead.
      s.pipeline.gpuScheduleToStart = '60s';
      s.pipeline.trainingHeartbeatTimeout = '5s';
      s.tuning = {
        ...s.tuning,
        trials: 3,
        concurrency: 2,
        data: { source: 'public', seeds: [1001], customers: 120, days: 30 },
        space: { family: ['logistic', 'mlp'], learningRate: { 'log-uniform': [0.01, 0.1] }, epochs: [2, 3], hidden: [[8]] },
      };
    });
    client = await connectTemporal(env.config);
    mlflow = MlflowClient.fromConfig(env.config);
    // The workers' public-data cache of their own (ml/tuning/data-cache.ts): the first trial builds the data.
    cacheDir = mkdtempSync(path.join(tmpdir(), 'fraudops-tuning-cache-'));
    env.env.FRAUDOPS_TUNING_CACHE = cacheDir;
    env.startWorker('cpu');
    env.startWorker('gpu');
  });
  after(() => {
    env?.cleanup();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  });

  it('runs every trial, retries the killed one, and leaves a parent run whose best config the pipeline trains with', async () => {
    const tune = env.cli(['tune', '--wait', '--json']);
    const workflowId = await until('the tuning search to start', 60_000, () =>
      runningSearch(client, env.config.pipeline.taskQueues.workflow),
    );
    await until('a trial running on the GPU worker', 60_000, () => gpuTrialBeat(client, workflowId));
    const gpu = env.workers[1];
    gpu.kill('SIGKILL');
    env.startWorker('gpu');

    const done = await tune;
    assert.equal(done.code, 0, done.stderr);
    const result = JSON.parse(done.stdout) as TuningSearchResult & { workflowId: string };
    assert.equal(result.workflowId, workflowId);
    assert.equal(result.trials, 3);
    assert.equal(result.failed, 0);
    const retried = result.results.filter((r) => r.attempt >= 2);
    assert.equal(retried.length, 1, `one trial retried after the kill: ${JSON.stringify(result.results)}`);
    assert.equal(retried[0].device, ALLOWED_CPU_DEVICE, 'the retry ran on the restarted GPU worker');
    assert.ok(
      result.results.some((r) => r.device === 'cpu'),
      'the CPU pool ran trials too',
    );
    assert.match(done.stderr, /tuning tuning-.*: searching, \d\/3 trials done.*best validation AP/);
    assert.equal(readdirSync(cacheDir as string).length, 1, 'one seed of public data, built once and cached');

    // MLflow: the parent run, its three child runs, the best config, the plot, and no privacy cost.
    const best = result.best as BestConfig;
    const parent = await mlflow.getRun(result.parentRunId);
    assert.equal(parent.info.status, 'FINISHED');
    const tag = (key: string) => parent.data.tags?.find((t) => t.key === key)?.value ?? '';
    assert.match(tag('fraudops.tuning.privacy'), /public simulated data .* costs no privacy/);
    const param = (key: string) => parent.data.params?.find((p) => p.key === key)?.value;
    assert.equal(param('privacy_cost'), '0');
    assert.equal(param('best.family'), JSON.stringify(best.hyperParameters.family));
    const children = await mlflow.searchRuns([parent.info.experiment_id], `tags.mlflow.parentRunId = '${result.parentRunId}'`);
    assert.equal(children.length, 3);
    assert.ok(children.every((c) => c.info.status === 'FINISHED'));
    assert.ok(children.every((c) => c.data.metrics?.some((m) => m.key === 'validation_card_precision_at_100')));
    const artifacts = (await mlflow.listArtifacts(parent.info)).map((f) => f.path);
    for (const name of ['best-config.json', 'comparison.svg', 'trials.json'])
      assert.ok(artifacts.includes(name), `${name} in ${artifacts}`);

    const { searchAttributes } = await client.workflow.getHandle(workflowId).describe();
    assert.deepEqual(searchAttributes.TuningTrialsDone, [3]);
    assert.deepEqual(searchAttributes.AveragePrecision, [best.validation?.averagePrecision]);
    assert.equal(best.objective.value, best.validation?.averagePrecision, 'a public search ranks by validation AP');
    assert.deepEqual(searchAttributes.Stage, ['tuned']);

    // fromTuning: by run id and as latest, the pipeline's training options take the best hyper-parameters.
    for (const ref of [result.parentRunId, 'latest']) {
      const tuned = await readTunedConfig(mlflow, env.config, ref);
      assert.deepEqual(tuned, best);
      const options = pipelineSettings(env.config, { tuned }).training.options;
      const expected = candidateOptions({ ebm: env.config.pipeline.training.ebm }, best.hyperParameters);
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(options[key as keyof typeof options], value, key);
    }
  });
});
