// The lifetime privacy ledger on the real stack: three pipeline runs over overlapping training windows (3, 4 and 5
// days ending on the same day) each write an entry before training; `fraudops privacy ledger --json` composes them
// per event day (checked against dp-accounting with tools/reference/privacy_ledger.py when a Python with
// dp_accounting is at $FRAUDOPS_DPACC_PYTHON, default /tmp/venv-dpacc/bin/python); a fourth run under a budget the
// ledger nearly spent is refused before training with the days named, and nothing is trained or registered. Then a
// tuning search on the same private records: its Papernot–Steinke (ε, δ) is one more entry, written before its
// trials; it releases only its best trial's noisy score; a second search past the budget is refused the same way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MlflowClient } from '../../clients/mlflow';
import { connectTemporal } from '../../clients/temporal';
import { projectRoot } from '../../config';
import { composeDays, type LedgerReport } from '../../ml/privacy/ledger';
import { startPipeline } from '../../temporal/pipeline';
import { startTuning, tuningInput } from '../../temporal/tuning';
import { pipelineStatus } from '../../workflows/messages';
import type { PipelineResult } from '../../workflows/training-pipeline';
import { type TuningSearchResult, tuningStatus } from '../../workflows/tuning';
import { createPipelineEnv, type PipelineEnv } from './pipeline-env';

const PYTHON = process.env.FRAUDOPS_DPACC_PYTHON ?? '/tmp/venv-dpacc/bin/python';
const hasReference = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import dp_accounting'], { stdio: 'ignore' }).status === 0;

describe('lifetime privacy ledger across pipeline runs (real stack)', () => {
  let env: PipelineEnv;
  let client: Client;
  let ledger: LedgerReport;
  const results: Array<PipelineResult & { workflowId: string }> = [];

  before(async () => {
    env = createPipelineEnv((s) => {
      Object.assign(s.pipeline.training, { epochs: 3, hidden: [8] });
      s.pipeline.approval.timeout = '1s'; // nobody decides: each candidate expires at once (expired runs count too)
      // RDP calibrates σ in milliseconds; the ledger composes by PLD whatever the accountant.
      Object.assign(s.privacy, { accountant: 'rdp', targetEpsilon: 1, lifetimeEpsilon: 10, tuningEpsilon: 2 });
      s.tuning = {
        ...s.tuning,
        trials: 2, // the mean of a random number of trials
        concurrency: 2,
        epsilon: 0.5,
        data: { ...s.tuning.data, source: 'private' },
        space: { family: ['logistic'], learningRate: [0.5, 1], epochs: [2], samplingRate: [0.1] },
      };
    });
    const produced = await env.cli(['produce', '--simulate', '--customers', '200', '--terminals', '400', '--days', '40']);
    assert.equal(produced.code, 0, produced.stderr);
    client = await connectTemporal(env.config);
    env.startWorker('cpu');
  });
  after(() => env?.cleanup());

  it('records three runs over overlapping windows and composes each event day by PLD', async () => {
    for (const days of [3, 4, 5]) {
      const run = await startPipeline(client, env.config, { days });
      const result: PipelineResult = await client.workflow.getHandle(run.workflowId).result();
      assert.equal(result.stage, 'expired');
      results.push({ ...result, workflowId: run.workflowId });
    }
    const printed = await env.cli(['privacy', 'ledger', '--json']);
    assert.equal(printed.code, 0, printed.stderr);
    ledger = JSON.parse(printed.stdout);
    assert.deepEqual(Object.keys(ledger), ['unit', 'budget', 'days', 'worst', 'entries']);
    assert.deepEqual(ledger.budget, { epsilon: 10, delta: env.config.privacy.delta, period: 'event-day' });
    assert.deepEqual(
      ledger.entries.map((e) => [e.workflowId, e.outcome, e.mechanism.kind]),
      results.map((r) => [r.workflowId, 'expired', 'poisson-gaussian']),
    );
    const last = ledger.entries[0].days.last;
    assert.ok(
      ledger.entries.every((e) => e.days.last === last),
      'the windows end on the same matured day',
    );
    const covered = ledger.days.find((d) => d.day === last);
    assert.equal(covered?.runs.length, 3);
    assert.equal(ledger.days.length, 5);

    // The printed figures are the ledger's PLD composition of the printed entries, and the runs saw the same worst ε.
    assert.deepEqual(
      ledger.days,
      composeDays(ledger.entries, ledger.budget.delta).map((d) => ({ ...d })),
    );
    const worst = Math.max(...ledger.days.map((d) => d.epsilon as number));
    assert.equal(ledger.worst?.epsilon, worst);
    assert.equal(results[2].lifetimeEpsilon, worst, 'the third run touches the worst day');
    const { searchAttributes } = await client.workflow.getHandle(results[2].workflowId).describe();
    assert.deepEqual(searchAttributes.LifetimeEpsilon, [worst]);

    // Mirrored into the run's MLflow run.
    const mlflow = MlflowClient.fromConfig(env.config);
    const experiment = await mlflow.ensureExperiment(`${env.config.registry.modelName}-pipeline`);
    const [mlflowRun] = await mlflow.searchRuns([experiment], `tags.workflow_id = '${results[0].workflowId}'`);
    const tag = (key: string) => mlflowRun.data.tags?.find((t) => t.key === key)?.value;
    assert.equal(tag('privacy_ledger.outcome'), 'expired');
    assert.deepEqual(JSON.parse(tag('privacy_ledger.mechanism') ?? '{}'), ledger.entries[0].mechanism);
  });

  it('agrees with dp-accounting’s composition of the same entries within 1e-3', {
    skip: !hasReference && `no ${PYTHON} with dp_accounting`,
  }, (t) => {
    const script = path.join(projectRoot(), 'tools', 'reference', 'privacy_ledger.py');
    const reference = spawnSync(PYTHON, [script], { input: JSON.stringify(ledger), encoding: 'utf8' });
    assert.equal(reference.status, 0, reference.stderr);
    const days: Array<{ day: string; epsilon: number; runs: string[] }> = JSON.parse(reference.stdout).days;
    assert.deepEqual(
      days.map((d) => [d.day, d.runs]),
      ledger.days.map((d) => [d.day, d.runs]),
    );
    const gaps = ledger.days.map((day, i) => Math.abs((day.epsilon as number) - days[i].epsilon));
    t.diagnostic(
      `per-day ε ${ledger.days.map((d) => d.epsilon?.toFixed(4)).join(', ')}; largest gap to dp-accounting ${Math.max(...gaps).toExponential(2)}`,
    );
    for (const [i, gap] of gaps.entries())
      assert.ok(gap < 1e-3, `${ledger.days[i].day}: ${ledger.days[i].epsilon} vs dp-accounting ${days[i].epsilon}`);
  });

  it('refuses a fourth run that would exceed privacy.lifetimeEpsilon, naming the days, before training', async (t) => {
    const worst = ledger.worst?.epsilon as number;
    // A budget the three runs fit, with room for less than one more run on their busiest days.
    const budget = Number((worst + 0.05).toFixed(3));
    const config = { ...env.config, privacy: { ...env.config.privacy, lifetimeEpsilon: budget, tuningEpsilon: 0 } };
    const run = await startPipeline(client, config, { days: 6 });
    const handle = client.workflow.getHandle(run.workflowId);
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const cause = err.cause as ApplicationFailure;
      assert.ok(cause instanceof ApplicationFailure);
      assert.equal(cause.type, 'PrivacyBudgetExceeded');
      assert.equal(cause.nonRetryable, true);
      t.diagnostic(cause.message);
      assert.match(cause.message, new RegExp(`past privacy\\.lifetimeEpsilon ${budget} \\(per event day`));
      // The days the three runs share are over; the range ends on the last day of the windows.
      const last = ledger.days[ledger.days.length - 1].day;
      assert.match(cause.message, new RegExp(`would take \\d{4}-\\d{2}-\\d{2} to ${last} \\(ε up to \\d+\\.\\d{3}\\) past`));
      return true;
    });
    const status = await handle.query(pipelineStatus);
    assert.deepEqual([status.stage, status.failedStep, status.steps.train], ['failed', 'privacy', undefined]);
    const after = JSON.parse((await env.cli(['privacy', 'ledger', '--json'])).stdout) as LedgerReport;
    assert.equal(after.entries.length, 3, 'a refused run writes no entry');
    const mlflow = MlflowClient.fromConfig(env.config);
    assert.equal((await mlflow.searchModelVersions(`name='${env.config.registry.modelName}'`)).length, 3, 'nothing registered');
  });

  it('charges a search on private data before its trials, releases only its best, and refuses one past either budget', async (t) => {
    const tune = await env.cli(['tune', '--wait', '--json']);
    assert.equal(tune.code, 0, tune.stderr);
    const released = JSON.parse(tune.stdout) as Pick<TuningSearchResult, 'parentRunId' | 'best'> & { workflowId: string };
    assert.deepEqual(Object.keys(released), ['workflowId', 'parentRunId', 'best'], 'only the best leaves the search');
    const { best } = released;
    assert.ok(best, tune.stderr);
    assert.deepEqual([best.validation, best.trial, best.trialRunId], [null, null, null], 'no exact metric, no index');
    assert.match(best.objective.name, /noisy daily card precision/);
    assert.doesNotMatch(tune.stderr, /trials done|\(trial \d+\)/, 'the progress shows no count of trials and no index');
    assert.match(tune.stderr, /ε \d\.\d{3} charged to the ledger/);

    const ledgerNow = JSON.parse((await env.cli(['privacy', 'ledger', '--json'])).stdout) as LedgerReport;
    assert.equal(ledgerNow.entries.length, 4);
    const entry = ledgerNow.entries.find((e) => e.workflowId === released.workflowId);
    assert.ok(entry && entry.mechanism.kind === 'approximate-dp', JSON.stringify(ledgerNow.entries));
    assert.deepEqual([entry.delta, entry.outcome], [env.config.tuning.private.delta, 'tuned']);
    assert.ok(
      entry.mechanism.epsilon > 0.5 && entry.mechanism.epsilon <= 2,
      `the search costs more than one trial, within its share: ${entry.mechanism.epsilon}`,
    );
    // Its days (validation through training) are composed with the pipeline runs that trained on them.
    const last = ledgerNow.days.find((d) => d.day === entry.days.last);
    const before = ledger.days.find((d) => d.day === entry.days.last)?.epsilon ?? 0;
    assert.ok(last?.runs.includes(entry.runId) && (last.epsilon as number) > before);

    const mlflow = MlflowClient.fromConfig(env.config);
    const parent = await mlflow.getRun(released.parentRunId);
    const param = (key: string) => parent.data.params?.find((p) => p.key === key)?.value;
    assert.equal(Number(param('privacy_epsilon')), entry.mechanism.epsilon);
    assert.equal(param('ledger_days'), `${entry.days.first}..${entry.days.last}`);
    assert.equal(param('privacy_cost'), undefined);
    assert.ok(!parent.data.metrics?.some((m) => m.key.startsWith('trials_')), 'the parent run does not count the trials');
    const artifacts = (await mlflow.listArtifacts(parent.info)).map((f) => f.path);
    assert.ok(
      artifacts.includes('best-config.json') && !artifacts.includes('trials.json') && !artifacts.includes('comparison.svg'),
      `${artifacts}`,
    );
    const children = await mlflow.searchRuns([parent.info.experiment_id], `tags.mlflow.parentRunId = '${released.parentRunId}'`);
    assert.ok(children.length >= 1);
    for (const child of children) {
      const metrics = (child.data.metrics ?? []).map((m) => m.key);
      assert.ok(metrics.includes('objective') && !metrics.some((m) => m.startsWith('validation_')), metrics.join());
      assert.ok((child.info.start_time ?? 0) >= Date.parse(entry.recordedAt), 'charged before any trial started');
    }
    t.diagnostic(`search ε ${entry.mechanism.epsilon.toFixed(3)}; best noisy score ${best.objective.value.toFixed(4)}`);

    // Past the share for tuning, then past the lifetime budget: refused before any trial, nothing written.
    const worst = ledgerNow.worst?.epsilon as number;
    for (const [privacy, budget] of [
      [{ tuningEpsilon: 0.1 }, 'privacy\\.tuningEpsilon 0\\.1'],
      [{ lifetimeEpsilon: Number((worst + 0.01).toFixed(3)) }, `privacy\\.lifetimeEpsilon ${(worst + 0.01).toFixed(3)}`],
    ] as const) {
      const config = { ...env.config, privacy: { ...env.config.privacy, ...privacy } };
      const { workflowId } = await startTuning(client, config, tuningInput(config));
      await assert.rejects(client.workflow.getHandle(workflowId).result(), (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        const cause = err.cause as ApplicationFailure;
        assert.equal(cause?.type, 'PrivacyBudgetExceeded', String(err.cause));
        assert.match(cause.message, new RegExp(`past ${budget}`));
        return true;
      });
      const { parentRunId } = await client.workflow.getHandle(workflowId).query(tuningStatus);
      const refused = await mlflow.getRun(parentRunId as string);
      assert.equal(refused.info.status, 'FAILED');
      assert.equal((await mlflow.searchRuns([refused.info.experiment_id], `tags.mlflow.parentRunId = '${parentRunId}'`)).length, 0);
    }
    const afterRefusal = JSON.parse((await env.cli(['privacy', 'ledger', '--json'])).stdout) as LedgerReport;
    assert.equal(afterRefusal.entries.length, 4, 'a refused search writes no entry');
  });
});
