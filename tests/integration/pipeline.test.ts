// The training pipeline on the real stack, driven as an operator would: the CLI triggers a run, `fraudops worker
// cpu` runs it, the worker is killed with SIGKILL mid-training and started again, a human approves from the CLI.
// The run must resume from its S3 checkpoint, register exactly one version, and promote a verifiable champion.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Client, defaultPayloadConverter } from '@temporalio/client';
import type { TrainHeartbeat } from '../../activities/train';
import { MlflowClient } from '../../clients/mlflow';
import { CHAMPION, championBundle, VERSION_TAGS, versionTag } from '../../clients/model-registry';
import { createS3 } from '../../clients/s3';
import { connectTemporal } from '../../clients/temporal';
import { loadBundle } from '../../ml/bundle';
import { pipelineStatus } from '../../workflows/messages';
import type { PipelineResult } from '../../workflows/training-pipeline';
import { createPipelineEnv, type PipelineEnv, until } from './pipeline-env';

async function trainingHeartbeat(client: Client, workflowId: string): Promise<TrainHeartbeat | undefined> {
  const { raw } = await client.workflow.getHandle(workflowId).describe();
  const pending = raw.pendingActivities?.find((a) => a.activityType?.name === 'trainModel');
  const payload = pending?.heartbeatDetails?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload<TrainHeartbeat>(payload) : undefined;
}

describe('trainingPipeline on the real stack (CLI, workers, Kafka, S3, MLflow)', () => {
  let env: PipelineEnv;
  let client: Client;
  let mlflow: MlflowClient;
  let workflowId: string;

  before(async () => {
    // 1000 epochs of a small dataset (10 000 steps, about 30 s here): time to kill the worker between two checkpoints.
    env = createPipelineEnv((s) => {
      s.pipeline.training.epochs = 1000;
    });
    const produced = await env.cli(['produce', '--simulate', '--customers', '400', '--terminals', '800', '--days', '40']);
    assert.equal(produced.code, 0, produced.stderr);
    client = await connectTemporal(env.config);
    mlflow = MlflowClient.fromConfig(env.config);
    env.startWorker('cpu');
  });
  after(() => env?.cleanup());

  it('survives kill -9 of the worker mid-training: resumes from the checkpoint and promotes one verified version', async () => {
    const run = await env.cli(['pipeline', 'run']);
    assert.equal(run.code, 0, run.stderr);
    workflowId = run.stdout.trim();
    assert.match(workflowId, /^training-[0-9a-f]{16}$/);
    assert.match(run.stderr, /Web UI: http:\/\/.*\/workflows\/training-/);

    const beforeKill = await until('a training checkpoint past epoch 1', 180_000, async () => {
      const beat = await trainingHeartbeat(client, workflowId);
      return beat?.checkpointKey && beat.checkpointStep && beat.epoch >= 2 ? beat : undefined;
    });
    const [first] = env.workers;
    first.kill('SIGKILL');
    env.startWorker('cpu');

    const resumed = await until('the retried training to report its resume point', 120_000, async () => {
      const beat = await trainingHeartbeat(client, workflowId);
      if (beat && beat.resumedFromStep > 0) return beat;
      const status = await client.workflow.getHandle(workflowId).query(pipelineStatus);
      return status.steps.train !== undefined ? ({ resumedFromStep: -1 } as TrainHeartbeat) : undefined;
    });
    const waiting = await until('the candidate to await approval', 180_000, async () => {
      const status = await client.workflow.getHandle(workflowId).query(pipelineStatus);
      return status.stage === 'awaiting-approval' ? status : undefined;
    });
    const version = waiting.candidateVersion as string;

    // Refused decisions record nothing.
    const wrongVersion = await env.cli(['pipeline', 'approve', workflowId, '--version', '999', '--approver', 'alice']);
    assert.equal(wrongVersion.code, 1);
    assert.match(wrongVersion.stderr, /refused: .*version "999" is not the candidate/);
    const stranger = await env.cli(['pipeline', 'approve', workflowId, '--version', version, '--approver', 'mallory']);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /approver "mallory" is not in the configured approvers/);
    const approved = await env.cli([
      'pipeline',
      'approve',
      workflowId,
      '--version',
      version,
      '--approver',
      'alice',
      '--reason',
      'beats baseline',
    ]);
    assert.equal(approved.code, 0, approved.stderr);

    const result: PipelineResult = await client.workflow.getHandle(workflowId).result();
    assert.equal(result.stage, 'promoted');
    assert.equal(result.modelVersion, version);
    assert.equal(result.trainDevice, 'cpu', 'no GPU worker runs: training fell back to the CPU pool');
    const { searchAttributes } = await client.workflow.getHandle(workflowId).describe();
    assert.deepEqual(
      [
        searchAttributes.ModelVersion,
        searchAttributes.Stage,
        searchAttributes.TrainDevice,
        searchAttributes.AveragePrecision,
        searchAttributes.Epsilon,
      ],
      [[version], ['promoted'], ['cpu'], [result.metrics.averagePrecision], [result.epsilon]],
    );

    // Privacy counts every step ever taken: all planned steps, across both attempts.
    const runs = await mlflow.searchRuns(
      [await mlflow.ensureExperiment(`${env.config.registry.modelName}-pipeline`)],
      `tags.workflow_id = '${workflowId}'`,
    );
    assert.equal(runs.length, 1);
    const metric = (key: string) => runs[0].data.metrics?.find((m) => m.key === key)?.value;
    const [low, high] = [metric('average_precision_low'), metric('average_precision_high')];
    assert.ok(low !== undefined && high !== undefined && 0 <= low && low <= high && high <= 1, `AP interval [${low}, ${high}] logged`);
    assert.ok((metric('train_attempt') ?? 0) >= 2, 'training was retried after the kill');
    // The heartbeat's step runs ahead of its last checkpoint (progress is reported between checkpoints).
    const durable = beforeKill.checkpointStep ?? 0;
    assert.ok(
      (metric('resumed_from_step') ?? 0) >= durable,
      `resumed from step ${metric('resumed_from_step')}, the checkpoint reported durable was at ${durable}`,
    );
    if (resumed.resumedFromStep > 0) assert.ok(resumed.resumedFromStep >= durable);
    assert.equal(result.metrics.steps, beforeKill.totalSteps);
    const target = env.config.privacy.targetEpsilon;
    assert.ok(result.epsilon !== null && result.epsilon <= target * 1.001 && result.epsilon > 0.9 * target, `ε ${result.epsilon}`);

    // Exactly one version; champion alias on it; tags; its bundle verifies and loads; the MLflow run has the artifacts.
    const model = env.config.registry.modelName;
    const versions = await mlflow.searchModelVersions(`name='${model}'`);
    assert.deepEqual(
      versions.map((v) => v.version),
      [version],
    );
    const champion = await championBundle({ mlflow, s3: createS3(env.config), bucket: env.config.stack.s3.bucket }, model);
    assert.equal(champion?.version.version, version);
    assert.equal(champion?.version.aliases?.includes(CHAMPION) ?? true, true);
    const tags = champion?.version as NonNullable<typeof champion>['version'];
    assert.equal(versionTag(tags, VERSION_TAGS.datasetSha256), result.dataset.sha256);
    assert.equal(versionTag(tags, VERSION_TAGS.workflowId), workflowId);
    assert.equal(versionTag(tags, VERSION_TAGS.decision), 'approved');
    assert.equal(versionTag(tags, VERSION_TAGS.approver), 'alice');
    assert.equal(versionTag(tags, VERSION_TAGS.reason), 'beats baseline');
    const loaded = await loadBundle(champion?.files ?? new Map());
    assert.equal(loaded.threshold, result.metrics.threshold);
    assert.equal(loaded.predict(new Float64Array(15), 1).length, 1);
    loaded.dispose();
    const artifacts = (await mlflow.listArtifacts(runs[0].info, 'model')).map((f) => f.path);
    assert.ok(artifacts.some((p) => p.endsWith('manifest.json')) && artifacts.some((p) => p.endsWith('privacy.md')), artifacts.join(', '));
    const reports = (await mlflow.listArtifacts(runs[0].info, 'validation')).map((f) => f.path);
    assert.ok(
      reports.some((p) => p.endsWith('report.html')),
      reports.join(', '),
    );
  });

  it('a repeated trigger on the same data finds the first run and trains nothing', async () => {
    const again = await env.cli(['pipeline', 'run']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), workflowId);
    assert.match(again.stderr, /already started earlier on the same data/);
    const status = JSON.parse((await env.cli(['pipeline', 'status', workflowId])).stdout);
    assert.equal(status.stage, 'promoted');
    assert.equal(status.execution, 'COMPLETED');
    assert.equal((await mlflow.searchModelVersions(`name='${env.config.registry.modelName}'`)).length, 1);
  });

  it('manages the retraining schedule: create, update keeping a pause, trigger, delete', async () => {
    const id = env.config.pipeline.schedule.id;
    assert.match((await env.cli(['schedule', 'create'])).stdout, /created/);
    let state = JSON.parse((await env.cli(['schedule', 'status'])).stdout);
    assert.equal(state.paused, false);
    assert.equal(state.nextRuns.length, 3);
    assert.match(state.nextRuns[0], /T03:00:00\.000Z$/);
    await env.cli(['schedule', 'pause', '--note', 'maintenance']);
    // What `make up`, compose and k8s do at every start: the config again, the operator's pause kept.
    assert.match((await env.cli(['schedule', 'create'])).stdout, /updated/);
    state = JSON.parse((await env.cli(['schedule', 'status'])).stdout);
    assert.deepEqual([state.paused, state.note], [true, 'maintenance']);
    await env.cli(['schedule', 'unpause']);
    assert.equal((await env.cli(['schedule', 'trigger'])).code, 0);
    const started = await until('the triggered run', 30_000, async () => {
      const s = JSON.parse((await env.cli(['schedule', 'status'])).stdout);
      return s.recentRuns[0]?.workflowId as string | undefined;
    });
    assert.ok(started.startsWith(`${id}-`), started);
    await client.workflow.getHandle(started).terminate('test: the triggered run is not needed');
    assert.match((await env.cli(['schedule', 'delete'])).stdout, /deleted/);
    assert.equal(JSON.parse((await env.cli(['schedule', 'status'])).stdout).exists, false);
  });
});
