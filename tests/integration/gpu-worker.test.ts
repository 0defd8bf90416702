// The GPU pool on the real stack, on this GPU-less host: `fraudops worker gpu` refuses to serve without a usable
// GPU; with --allow-cpu it takes the training from the GPU queue on the CPU backend, and the run's TrainDevice
// (status and search attribute) says so.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { connectTemporal } from '../../clients/temporal';
import { ALLOWED_CPU_DEVICE } from '../../workers/gpu-device';
import { pipelineStatus } from '../../workflows/messages';
import { createPipelineEnv, type PipelineEnv, until } from './pipeline-env';

// On an NVIDIA host the worker may find its GPU and serve: these checks are for hosts without one.
describe('the GPU worker without a GPU', { skip: existsSync('/dev/nvidiactl') && 'an NVIDIA device is present' }, () => {
  let env: PipelineEnv;
  let client: Client;

  before(async () => {
    // Long enough for the GPU worker to claim the training, which it does at once.
    env = createPipelineEnv((s) => {
      s.pipeline.gpuScheduleToStart = '2m';
    });
    const produced = await env.cli(['produce', '--simulate', '--customers', '300', '--terminals', '600', '--days', '40']);
    assert.equal(produced.code, 0, produced.stderr);
    client = await connectTemporal(env.config);
  });
  after(() => env?.cleanup());

  it('refuses to serve the GPU queue unless --allow-cpu', async () => {
    const refused = await env.cli(['worker', 'gpu']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /the GPU worker found no usable GPU: .*--allow-cpu/);
  });

  it('with --allow-cpu trains the run on the CPU backend and says so in TrainDevice', async () => {
    env.startWorker('cpu');
    env.startWorker('gpu'); // pipeline-env passes --allow-cpu
    const run = await env.cli(['pipeline', 'run']);
    assert.equal(run.code, 0, run.stderr);
    const handle = client.workflow.getHandle(run.stdout.trim());
    const status = await until('the candidate to await approval', 300_000, async () => {
      const s = await handle.query(pipelineStatus);
      return s.stage === 'awaiting-approval' || s.stage === 'failed' ? s : undefined;
    });
    assert.equal(status.stage, 'awaiting-approval', status.failedStep);
    assert.equal(status.trainDevice, ALLOWED_CPU_DEVICE);
    assert.deepEqual((await handle.describe()).searchAttributes.TrainDevice, [ALLOWED_CPU_DEVICE]);
    await handle.terminate('test done');
  });
});
