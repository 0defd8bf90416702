// Human approval on the time-skipping test server: expiry, rejection and approval by signal, approval by
// update, and updates refused by the validator (nothing recorded).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { loadConfig } from '../../config';
import { stackPaths } from '../../stack/paths';
import { approvePromotion, decidePromotion, pipelineStatus, rejectPromotion } from '../../workflows/messages';
import type { approvalGateWorkflow } from '../workflow/approval-workflows';

Runtime.install({ logger: new DefaultLogger('WARN') });
const config = loadConfig();
const taskQueue = 'approval';
const args = { candidateVersion: '7', approvers: ['alice', 'bob'], timeout: '48 hours' };

describe('promotion approval (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;

  before(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: stackPaths(config).venvBin('temporal-test-server') } },
    });
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: path.join(__dirname, '..', 'workflow', 'approval-workflows.ts'),
    });
    running = worker.run();
  });
  after(async () => {
    worker.shutdown();
    await running;
    await env.teardown();
  });

  const start = () =>
    env.client.workflow.start<typeof approvalGateWorkflow>('approvalGateWorkflow', {
      taskQueue,
      workflowId: `approval-${randomUUID()}`,
      args: [args],
    });

  it('expires the candidate unpromoted when nobody decides before the timeout', async () => {
    const handle = await start();
    const outcome = await handle.result();
    assert.equal(outcome.decision, 'expired');
    assert.equal(outcome.via, 'timeout');
    assert.equal((await handle.query(pipelineStatus)).stage, 'expired');
  });

  it('rejects by signal', async () => {
    const handle = await start();
    await handle.signal(rejectPromotion, { version: '7', approver: 'bob', reason: 'AP below champion' });
    const outcome = await handle.result();
    assert.deepEqual([outcome.decision, outcome.approver, outcome.reason, outcome.via], ['rejected', 'bob', 'AP below champion', 'signal']);
  });

  it('approves by signal, after ignoring (and reporting) a signal from someone not allowed', async () => {
    const handle = await start();
    await handle.signal(approvePromotion, { version: '7', approver: 'mallory', reason: 'trust me' });
    await handle.signal(approvePromotion, { version: '7', approver: 'alice', reason: 'beats champion' });
    const outcome = await handle.result();
    assert.equal(outcome.decision, 'approved');
    assert.equal(outcome.approver, 'alice');
    const status = await handle.query(pipelineStatus);
    assert.match(status.ignoredSignals[0], /approver "mallory" is not in the configured approvers/);
  });

  it('approves by update, which returns the recorded decision', async () => {
    const handle = await start();
    const answer = await handle.executeUpdate(decidePromotion, {
      args: [{ version: '7', approver: 'alice', reason: 'ok', approve: true }],
    });
    assert.equal(answer.decision, 'approved');
    assert.equal(answer.via, 'update');
    assert.deepEqual(await handle.result(), answer);
  });

  it('refuses an update for an unknown version or an unlisted approver, and records nothing', async () => {
    const handle = await start();
    const refused = async (input: { version: string; approver: string; reason: string; approve: boolean }, message: RegExp) => {
      await assert.rejects(handle.executeUpdate(decidePromotion, { args: [input] }), (err: Error) => {
        assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
        assert.match(String(err.cause?.message), message);
        return true;
      });
    };
    await refused(
      { version: '6', approver: 'alice', reason: 'x', approve: true },
      /version "6" is not the candidate awaiting approval \("7"\)/,
    );
    await refused({ version: '7', approver: 'eve', reason: 'x', approve: true }, /approver "eve" is not in the configured approvers/);
    const status = await handle.query(pipelineStatus);
    assert.equal(status.outcome, undefined);
    assert.equal(status.stage, 'awaiting-approval');
    assert.equal((await handle.result()).decision, 'expired');
  });
});
