// trainingPipeline's control flow on the time-skipping test server, with stand-in activities (the real ones run
// in pipeline.test.ts): approval by signal and update, refused updates, expiry, supersession, auto-approval, GPU fallback to the
// CPU pool, retries of a failing step, and a validation failure ending the run with its report.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { loadConfig } from '../../config';
import { stackPaths } from '../../stack/paths';
import { pipelineSettings } from '../../temporal/pipeline';
import {
  approvePromotion,
  decidePromotion,
  type PromotionOutcome,
  pipelineStatus,
  rejectPromotion,
  supersedeCandidate,
} from '../../workflows/messages';
import type { PipelineSettings } from '../../workflows/settings';
import type { PipelineResult, trainingPipeline } from '../../workflows/training-pipeline';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const config = loadConfig();
const QUEUES = { workflow: 'wf', cpu: 'cpu', gpu: 'gpu' };
const VERSION = '7';

/** What the stand-in activities saw. */
interface Calls {
  ingestAttempts: number;
  trainQueues: string[];
  decisions: PromotionOutcome[];
  promoted: string[];
}

interface Behaviour {
  ingestFailures?: number;
  validationFails?: boolean;
  averagePrecision?: number;
  championAveragePrecision?: number | null;
  /** The paired bootstrap's lower bound on the AP gain over the champion. */
  gainLowerBound?: number;
  /** A newer run already waiting for approval when this one gets there. */
  newerWaiting?: string;
}

function standIns(calls: Calls, behaviour: Behaviour): Activities {
  const dataset = {
    sha256: 'a'.repeat(64),
    prefix: 'datasets',
    rows: 1000,
    labelled: 1000,
    frauds: 10,
    firstTransaction: null,
    lastTransaction: null,
    rejected: 0,
    endOffsets: {},
  };
  const periods = { validation: { from: 'a', to: 'b' }, train: { from: 'c', to: 'd' }, test: { from: 'e', to: 'f' } };
  const fake = {
    async ingestDataset() {
      calls.ingestAttempts++;
      if (calls.ingestAttempts <= (behaviour.ingestFailures ?? 0)) throw new Error(`Kafka unavailable (attempt ${calls.ingestAttempts})`);
      return dataset;
    },
    async validateSnapshot() {
      if (behaviour.validationFails) {
        throw ApplicationFailure.create({
          type: 'DataValidationError',
          message:
            'data validation failed: TX_AMOUNT: 12% of rows are negative (full report: s3://fraudops/pipelines/x/validation/report.html)',
          nonRetryable: true,
          details: [
            { reportKey: 'pipelines/x/validation/report.json', htmlKey: 'pipelines/x/validation/report.html', failures: ['TX_AMOUNT'] },
          ],
        });
      }
      return { reportKey: 'r', htmlKey: 'h', referenceKey: 'ref', driftReferenceVersion: null, rows: 1000, warnings: 0 };
    },
    async buildFeatures() {
      const counts = { train: 600, validation: 200, test: 200 };
      return {
        key: 'split',
        protocol: { trainStart: 'c', trainDays: 7, validationDays: 7, delayDays: 7, testDays: 7 },
        periods,
        rows: counts,
        frauds: counts,
        removedKnownCompromised: 0,
      };
    },
    async balanceClasses() {
      return { key: 'training', examples: 600, records: 600, positives: 6, syntheticRows: 0 };
    },
    async reservePrivacy() {
      return { noiseMultiplier: 1.2, bound: 'run', entryKey: 'privacy-ledger/t/w/r.json', lifetimeEpsilon: 1, worstOn: 'c' } as const;
    },
    async recordPrivacyOutcome() {},
    async trainModel() {
      calls.trainQueues.push(Context.current().info.taskQueue);
      return {
        steps: 10,
        totalSteps: 10,
        epochs: 1,
        resumedFromStep: 0,
        backend: 'cpu',
        spent: null,
        modelKey: 'model',
        device: Context.current().info.taskQueue === QUEUES.gpu ? 'gpu' : 'cpu',
        attempt: 1,
        seconds: 1,
      } as const;
    },
    async evaluateCandidate({ confidence }: { confidence?: number }) {
      const champion = behaviour.championAveragePrecision;
      const averagePrecision = behaviour.averagePrecision ?? 0.6;
      const gain = {
        averagePrecision: averagePrecision - (champion ?? 0),
        lowerBound: behaviour.gainLowerBound ?? 0,
        level: confidence ?? 0.95,
        probabilityPositive: 0.9,
        resamples: 1000,
      };
      return {
        bundleKey: 'models/b',
        bundleSha256: 'b'.repeat(64),
        metrics: {
          averagePrecision,
          aucRoc: 0.9,
          cardPrecisionAt100: 0.3,
          f2Validation: 0.5,
          threshold: 0.4,
          confusion: { tp: 1, fp: 1, tn: 1, fn: 1 },
          epsilon: 1,
          delta: 1e-6,
          perRecordEpsilon: 1,
          noiseMultiplier: 1.2,
          samplingRate: 0.1,
          steps: 10,
        },
        champion: champion == null ? null : { version: '3', averagePrecision: champion, aucRoc: 0.8, cardPrecisionAt100: 0.2, gain },
        privacyCovered: true,
      };
    },
    async registerCandidate() {
      return { version: VERSION, runId: 'run', experimentId: '1' };
    },
    async recordDecision({ outcome }: { version: string; outcome: PromotionOutcome }) {
      calls.decisions.push(outcome);
    },
    async supersedeWaitingCandidates() {
      return behaviour.newerWaiting ? { superseded: [], supersededBy: behaviour.newerWaiting } : { superseded: [] };
    },
    async promoteCandidate({ version }: { version: string }) {
      calls.promoted.push(version);
      return { champion: version, previous: null, changed: true };
    },
  };
  return fake as unknown as Activities;
}

describe('trainingPipeline control flow (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let workers: Worker[] = [];
  let running: Promise<void>[] = [];

  before(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: stackPaths(config).venvBin('temporal-test-server') } },
    });
  });
  afterEach(async () => {
    for (const worker of workers) worker.shutdown();
    await Promise.all(running);
    workers = [];
    running = [];
  });
  after(async () => {
    await env?.teardown();
  });

  async function startWorkers(calls: Calls, behaviour: Behaviour, options: { gpuWorker?: boolean } = {}) {
    const activities = standIns(calls, behaviour);
    workers.push(
      await Worker.create({
        connection: env.nativeConnection,
        taskQueue: QUEUES.workflow,
        workflowsPath: require.resolve('../../workflows'),
      }),
      await Worker.create({ connection: env.nativeConnection, taskQueue: QUEUES.cpu, activities }),
    );
    if (options.gpuWorker) {
      workers.push(
        await Worker.create({ connection: env.nativeConnection, taskQueue: QUEUES.gpu, activities: { trainModel: activities.trainModel } }),
      );
    }
    running = workers.map((worker) => worker.run());
  }

  async function start(behaviour: Behaviour = {}, tweak: (s: PipelineSettings) => void = () => undefined, workerOptions = {}) {
    const calls: Calls = { ingestAttempts: 0, trainQueues: [], decisions: [], promoted: [] };
    await startWorkers(calls, behaviour, workerOptions);
    const settings = pipelineSettings(config);
    settings.taskQueues = { cpu: QUEUES.cpu, gpu: QUEUES.gpu };
    settings.searchAttributes = false; // the time-skipping server cannot register them (pipeline.test.ts checks them)
    settings.approval.approvers = ['alice', 'bob'];
    settings.approval.timeout = '48h';
    settings.gpuScheduleToStart = '2s'; // an unclaimed activity task holds the test server's clock: this wait is real time
    tweak(settings);
    const handle = await env.client.workflow.start<typeof trainingPipeline>('trainingPipeline', {
      taskQueue: QUEUES.workflow,
      workflowId: `pipeline-${randomUUID()}`,
      args: [{ settings, trigger: 'manual' }],
    });
    const awaiting = async () => {
      for (;;) {
        const status = await handle.query(pipelineStatus);
        if (status.stage === 'awaiting-approval') return status;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    return { handle, calls, awaiting };
  }

  it('expires the candidate unpromoted when nobody decides before the timeout, and records the expiry', async () => {
    const { handle, calls } = await start();
    const result: PipelineResult = await handle.result();
    assert.equal(result.stage, 'expired');
    assert.equal(calls.decisions[0]?.decision, 'expired');
    assert.deepEqual(calls.promoted, []);
  });

  it('rejects by signal: recorded, not promoted', async () => {
    const { handle, calls, awaiting } = await start();
    await awaiting();
    await handle.signal(rejectPromotion, { version: VERSION, approver: 'bob', reason: 'AP below the champion' });
    const result: PipelineResult = await handle.result();
    assert.deepEqual([result.stage, calls.decisions[0]?.approver, calls.decisions[0]?.via], ['rejected', 'bob', 'signal']);
    assert.deepEqual(calls.promoted, []);
  });

  it('approves by signal and promotes; a signal for another version is ignored, not recorded', async () => {
    const { handle, calls, awaiting } = await start();
    await awaiting();
    await handle.signal(approvePromotion, { version: '999', approver: 'alice', reason: 'wrong one' });
    await handle.signal(approvePromotion, { version: VERSION, approver: 'alice', reason: 'beats the champion' });
    const result: PipelineResult = await handle.result();
    assert.equal(result.stage, 'promoted');
    assert.deepEqual(calls.promoted, [VERSION]);
    assert.equal(calls.decisions.length, 1);
    assert.match((await handle.query(pipelineStatus)).ignoredSignals[0], /version "999" is not the candidate/);
  });

  it('ends superseded when a newer candidate takes its place: recorded, not promoted', async () => {
    const waiting = await start();
    await waiting.awaiting();
    await waiting.handle.signal(supersedeCandidate, { by: 'training-newer', version: '8' });
    const result: PipelineResult = await waiting.handle.result();
    assert.deepEqual([result.stage, result.outcome.via, result.outcome.supersededBy], ['superseded', 'supersede', 'training-newer']);
    assert.equal(waiting.calls.decisions[0]?.decision, 'superseded');
    assert.deepEqual(waiting.calls.promoted, []);
  });

  it('ends superseded at once when a newer candidate already waits', async () => {
    const late = await start({ newerWaiting: 'training-newest' });
    const lateResult: PipelineResult = await late.handle.result();
    assert.deepEqual([lateResult.stage, lateResult.outcome.supersededBy], ['superseded', 'training-newest']);
    assert.match(lateResult.outcome.reason ?? '', /a newer run \(training-newest\) was already waiting/);
  });

  it('approves by update after refusing an unknown approver (nothing recorded for the refusal)', async () => {
    const { handle, calls, awaiting } = await start();
    await awaiting();
    await assert.rejects(
      handle.executeUpdate(decidePromotion, { args: [{ version: VERSION, approver: 'mallory', reason: 'x', approve: true }] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError &&
        /approver "mallory" is not in the configured approvers/.test(String((err as Error).cause)),
    );
    assert.equal((await handle.query(pipelineStatus)).stage, 'awaiting-approval');
    const outcome = await handle.executeUpdate(decidePromotion, {
      args: [{ version: VERSION, approver: 'alice', reason: 'ok', approve: true }],
    });
    assert.deepEqual([outcome.decision, outcome.via], ['approved', 'update']);
    assert.equal((await handle.result()).stage, 'promoted');
    assert.equal(calls.decisions.length, 1);
  });

  it('auto-approves a candidate whose paired-bootstrap lower bound on the AP gain clears the margin within the ε budget, and only then', async () => {
    const policy = (s: PipelineSettings) => {
      s.approval.autoApprove = { enabled: true, confidence: 0.9, minAveragePrecisionGain: 0.01, maxEpsilon: 3 };
    };
    const beats = await start({ averagePrecision: 0.7, championAveragePrecision: 0.6, gainLowerBound: 0.04 }, policy);
    const result: PipelineResult = await beats.handle.result();
    assert.deepEqual([result.stage, result.outcome.via, result.outcome.approver], ['promoted', 'policy', 'auto-approve']);
    assert.match(result.outcome.reason ?? '', /90 % lower bound 0\.0400 > 0\.01/, 'the level reached the evaluation and the reason');
    await new Promise((resolve) => setImmediate(resolve));
    for (const worker of workers) worker.shutdown();
    await Promise.all(running);
    workers = [];
    // A raw AP gain of 0.1 whose lower bound does not clear the margin: not significant, a human decides.
    const close = await start({ averagePrecision: 0.7, championAveragePrecision: 0.6, gainLowerBound: 0.005 }, policy);
    assert.equal((await close.handle.result()).stage, 'expired', 'a lower bound below the margin waits for a human');
  });

  it('trains on the GPU pool when a GPU worker takes the job, on the CPU pool when none does in time', async () => {
    const withGpu = await start(
      {},
      (s) => {
        s.approval.timeout = '1m';
      },
      { gpuWorker: true },
    );
    assert.equal((await withGpu.handle.result()).trainDevice, 'gpu');
    assert.deepEqual(withGpu.calls.trainQueues, [QUEUES.gpu]);
    for (const worker of workers) worker.shutdown();
    await Promise.all(running);
    workers = [];
    const withoutGpu = await start({}, (s) => {
      s.approval.timeout = '1m';
    });
    const result: PipelineResult = await withoutGpu.handle.result();
    assert.equal(result.trainDevice, 'cpu');
    assert.deepEqual(withoutGpu.calls.trainQueues, [QUEUES.cpu]);
    assert.equal((await withoutGpu.handle.query(pipelineStatus)).trainDevice, 'cpu');
  });

  it('retries a step that fails twice, then goes on', async () => {
    const { handle, calls } = await start({ ingestFailures: 2 }, (s) => {
      s.approval.timeout = '1m';
    });
    assert.equal((await handle.result()).stage, 'expired');
    assert.equal(calls.ingestAttempts, 3);
  });

  it('ends the run on a validation failure with a non-retryable DataValidationError carrying the report', async () => {
    const { handle, calls } = await start({ validationFails: true });
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const cause = err.cause as ApplicationFailure;
      assert.equal(cause.type, 'DataValidationError');
      assert.equal(cause.nonRetryable, true);
      assert.match(cause.message, /full report: s3:\/\/.*report\.html/);
      const [details] = (cause.details ?? []) as Array<{ reportKey: string }>;
      assert.equal(details?.reportKey, 'pipelines/x/validation/report.json');
      return true;
    });
    const status = await handle.query(pipelineStatus);
    assert.deepEqual([status.stage, status.failedStep], ['failed', 'validate']);
    assert.deepEqual(calls.trainQueues, []);
  });
});
