// One candidate waits for approval at a time, on the real server's visibility: a newer waiting run supersedes the
// older one of the same deployment (workflow task queue), never one of another deployment.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivityDeps } from '../../activities';
import { createSupersedeActivities } from '../../activities/supersede';
import { connectTemporal, temporalAddress } from '../../clients/temporal';
import { loadConfig } from '../../config';
import type { awaitingCandidate } from '../workflow/supersede-workflows';
import { until } from './pipeline-env';

Runtime.install({ logger: new DefaultLogger('WARN') });
const base = loadConfig();

describe('superseding a waiting candidate', () => {
  it('supersedes the older waiting run of its deployment when a newer one waits, and leaves other deployments alone', async () => {
    const name = randomUUID().slice(0, 8);
    const queue = `supersede-${name}`;
    const otherQueue = `supersede-other-${name}`;
    const configOf = (workflow: string) => ({
      ...base,
      pipeline: { ...base.pipeline, taskQueues: { ...base.pipeline.taskQueues, workflow } },
    });
    const connection = await NativeConnection.connect({ address: temporalAddress(base) });
    const client = await connectTemporal(base);
    const workers = await Promise.all(
      [queue, otherQueue].map((taskQueue) =>
        Worker.create({
          connection,
          namespace: base.stack.temporal.namespace,
          taskQueue,
          workflowsPath: path.join(__dirname, '..', 'workflow', 'supersede-workflows.ts'),
          activities: createSupersedeActivities(createActivityDeps(configOf(taskQueue), 'supersede-test')),
        }),
      ),
    );
    const running = workers.map((worker) => worker.run());
    const start = (taskQueue: string, version: string) =>
      client.workflow.start<typeof awaitingCandidate>('awaitingCandidate', {
        taskQueue,
        workflowId: `supersede-${name}-${version}`,
        args: [version],
      });
    const waitingIn = (taskQueue: string) =>
      until(`runs waiting in ${taskQueue}`, 30_000, async () => {
        const ids: string[] = [];
        for await (const run of client.workflow.list({
          query: `Stage = 'awaiting-approval' AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue}'`,
        }))
          ids.push(run.workflowId);
        return ids.length ? ids : undefined;
      });
    try {
      const older = await start(queue, '1');
      const other = await start(otherQueue, '9');
      await waitingIn(queue);
      await waitingIn(otherQueue);
      const newer = await start(queue, '2');
      assert.equal(await older.result(), `superseded by ${newer.workflowId}`);
      const description = await other.describe();
      assert.equal(description.status.name, 'RUNNING', 'another deployment’s candidate still waits');
      for (const handle of [newer, other]) await handle.terminate('test over');
    } finally {
      for (const worker of workers) worker.shutdown();
      await Promise.all(running);
      await client.connection.close();
      await connection.close();
    }
  });
});
