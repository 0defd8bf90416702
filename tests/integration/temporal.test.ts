import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { connectTemporal, temporalAddress } from '../../clients/temporal';
import { loadConfig } from '../../config';
import { stackPaths } from '../../stack/paths';
import { createSmokeActivities } from '../workflow/smoke-activities';
import type { dayLongWorkflow, greetingWorkflow } from '../workflow/smoke-workflows';

Runtime.install({ logger: new DefaultLogger('WARN') });
const config = loadConfig();
const workflowsPath = path.join(__dirname, '..', 'workflow', 'smoke-workflows.ts');

describe('temporal', () => {
  it('runs a workflow on the dev server, started by the client and completed by a worker', async () => {
    const taskQueue = `smoke-${randomUUID()}`;
    const connection = await NativeConnection.connect({ address: temporalAddress(config) });
    const worker = await Worker.create({
      connection,
      namespace: config.stack.temporal.namespace,
      taskQueue,
      workflowsPath,
      activities: createSmokeActivities('hello'),
    });
    const client = await connectTemporal(config);
    try {
      const result = await worker.runUntil(
        client.workflow.execute<typeof greetingWorkflow>('greetingWorkflow', {
          taskQueue,
          workflowId: `smoke-${randomUUID()}`,
          args: ['fraudops'],
        }),
      );
      assert.equal(result, 'hello, fraudops');
    } finally {
      await client.connection.close();
      await connection.close();
    }
  });

  it('skips a day of workflow time in the time-skipping test server', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: stackPaths(config).venvBin('temporal-test-server') } },
    });
    try {
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue: 'time-skipping',
        workflowsPath,
        activities: createSmokeActivities('unused'),
      });
      const started = Date.now();
      const result = await worker.runUntil(
        env.client.workflow.execute<typeof dayLongWorkflow>('dayLongWorkflow', {
          taskQueue: 'time-skipping',
          workflowId: `day-${randomUUID()}`,
        }),
      );
      assert.equal(result, 'woke up');
      assert.ok(Date.now() - started < 30_000, 'a simulated day took real time');
    } finally {
      await env.teardown();
    }
  });
});
