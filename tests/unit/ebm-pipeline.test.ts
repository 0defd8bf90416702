// The EBM family in the pipeline, without Temporal or S3: the ledger plans its releases before training, the training
// job uses exactly the reserved σ, the model file carries the EBM to the evaluate step's bundle, and the privacy report
// says what DP-EBM did (no DP-SGD wording, no class weight).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEbmRecord, decodeModel, encodeEbmModel, predictModel } from '../../activities/model-file';
import { plannedRunMechanism, scheduledMechanism } from '../../activities/privacy-ledger';
import { trainJobModel } from '../../activities/train';
import type { TrainJobModel } from '../../activities/train-job';
import { loadConfig } from '../../config';
import { loadBundle, packBundle } from '../../ml/bundle';
import { EBM_DEFAULTS, type EbmModel, gdpEpsilon, predictEbm, trainEbmFamily } from '../../ml/ebm';
import { balanceTraining } from '../../ml/experiment';
import { HANDBOOK_FEATURE_SET } from '../../ml/feature-set';
import { epsilon } from '../../ml/privacy';
import { buildPrivacyReport, renderPrivacyReport } from '../../ml/privacy/report';
import { Rng } from '../../ml/random';
import { pipelineSettings } from '../../temporal/pipeline';
import type { PrivacySettings, TrainingSettings } from '../../workflows/settings';

const set = HANDBOOK_FEATURE_SET;
const F = set.names.length;

/** Raw handbook-shaped features; fraud follows a high amount and a risky terminal. */
function rawTrain(rows: number, seed: number) {
  const rng = new Rng([seed]);
  const x = Float64Array.from({ length: rows * F }, (_, k) => {
    const name = set.names[k % F];
    if (name.includes('RISK')) return rng.uniform() < 0.8 ? 0 : rng.uniform();
    if (name.startsWith('TX_DURING')) return rng.uniform() < 0.3 ? 1 : 0;
    return Math.floor(rng.uniform() * 200);
  });
  const y = Uint8Array.from({ length: rows }, (_, i) => (x[i * F] > 150 && x[i * F + 10] > 0.3 ? 1 : rng.uniform() < 0.01 ? 1 : 0));
  const card = Int32Array.from({ length: rows }, (_, i) => i % (rows / 4));
  return { x, y, rows, card, cards: rows / 4 };
}

function ebmSettings(overrides: Partial<TrainingSettings['options']> = {}): { training: TrainingSettings; privacy: PrivacySettings } {
  const base = pipelineSettings(loadConfig());
  const training = { ...base.training, options: { ...base.training.options, family: 'ebm' as const, ...overrides } };
  // RDP calibrates in milliseconds; the ledger's composition is by PLD whatever the accountant.
  return { training, privacy: { ...base.privacy, accountant: 'rdp', targetEpsilon: 1, lifetimeEpsilon: 100 } };
}

describe('EBM in the pipeline', () => {
  const raw = rawTrain(4000, 5);

  it('the ledger plans F·(rounds + 1) Gaussian releases at sampling rate 1 (none without DP)', () => {
    const counts = { examples: raw.rows, positives: 40, cards: raw.cards, inputs: F };
    const { training } = ebmSettings({ ebm: { rounds: 4 } });
    assert.deepEqual(plannedRunMechanism(training, counts), { samplingRate: 1, steps: F * 5 });
    const defaults = ebmSettings().training;
    assert.deepEqual(plannedRunMechanism(defaults, counts), { samplingRate: 1, steps: F * (EBM_DEFAULTS.private.rounds + 1) });
    assert.equal(plannedRunMechanism(ebmSettings({ dp: false }).training, counts), null);
    assert.throws(() => plannedRunMechanism(training, { ...counts, inputs: undefined }), /training\.inputs/);
  });

  it('trains with the reserved σ: the spent mechanism is the ledger entry, and its exact ε is within the target', () => {
    const { training, privacy } = ebmSettings({ ebm: { rounds: 4 }, balance: 'class-weight' });
    const balanced = balanceTraining(raw, training.options, set);
    const ref = { examples: raw.rows, positives: 40, cards: raw.cards, inputs: F };
    const { mechanism } = scheduledMechanism({ settings: training, training: ref, privacy });
    assert.equal(mechanism.kind, 'poisson-gaussian');
    if (mechanism.kind !== 'poisson-gaussian') return;
    const job: TrainJobModel = trainJobModel(training, ref, mechanism.noiseMultiplier);
    assert.equal(job.family, 'ebm');
    if (job.family !== 'ebm') return;
    assert.equal(job.ebmOptions.noiseMultiplier, mechanism.noiseMultiplier);
    const trained = trainEbmFamily(balanced, set, job.ebmOptions);
    const spent = trained.spent;
    assert.ok(spent?.noise.secret);
    assert.deepEqual(
      { samplingRate: spent.samplingRate, noiseMultiplier: spent.noiseMultiplier, steps: spent.steps, mechanism: spent.mechanism },
      { samplingRate: 1, noiseMultiplier: mechanism.noiseMultiplier, steps: mechanism.steps, mechanism: 'dp-ebm' },
    );
    // The run's exact ε (the composed Gaussian's own curve) is at most the target and at most the ledger's PLD figure.
    assert.ok(spent.epsilon <= privacy.targetEpsilon, `ε ${spent.epsilon}`);
    assert.equal(spent.epsilon, gdpEpsilon(Math.sqrt(spent.steps) / spent.noiseMultiplier, privacy.delta));
    const ledger = epsilon({ ...mechanism, delta: privacy.delta }, 'pld').epsilon;
    assert.ok(spent.epsilon <= ledger + 1e-9 && ledger - spent.epsilon < 1e-3, `exact ${spent.epsilon}, ledger PLD ${ledger}`);

    // The report: DP-EBM's mechanism sentence; nothing of DP-SGD, no class weight (it does not apply to the EBM).
    const report = buildPrivacyReport({
      spent,
      ...balanced,
      assumptions: [...balanced.assumptions, ...trained.assumptions],
    });
    assert.ok(report.covered, report.reasons.join('; '));
    assert.match(
      report.perExample?.statement ?? '',
      /^DP-EBM \(.*\d+ Gaussian histogram releases on the whole training split, without subsampling/,
    );
    const text = renderPrivacyReport(report);
    assert.doesNotMatch(text, /DP-SGD|class weight|Poisson/i);
    assert.match(text, /DP-EBM ran as accounted/);
    assert.match(text, /\| histogram releases \| \d+ \|/);
    assert.match(text, /\| sensitivity Δ \| 1 \|/);
  });

  it('the model file carries the EBM and its outcome to the evaluate step, whose bundle serves the same scores', async () => {
    const { training } = ebmSettings({ dp: false, ebm: { rounds: 20 } });
    const balanced = balanceTraining(raw, training.options, set);
    const job = trainJobModel(training, { examples: raw.rows, positives: 40 }, null);
    if (job.family !== 'ebm') throw new Error('not an EBM job');
    const trained = trainEbmFamily(balanced, set, job.ebmOptions);
    const record = { spent: trained.spent, assumptions: trained.assumptions };
    const bytes = encodeEbmModel(trained.parameters, record);
    const model = decodeModel(bytes) as EbmModel;
    assert.deepEqual(model, trained.parameters);
    assert.deepEqual(decodeEbmRecord(bytes), record);
    const x = Float32Array.from(balanced.x);
    assert.deepEqual(predictModel(model, x, raw.rows), predictEbm(trained.parameters, x, raw.rows));
    const files = await packBundle({
      model,
      transform: balanced.transform,
      labelDelayDays: 7,
      threshold: 0.5,
      metrics: {},
      privacy: buildPrivacyReport({ spent: null, ...balanced }),
      createdAt: '2026-01-02T03:04:05.000Z',
    });
    const loaded = await loadBundle(files);
    assert.deepEqual(loaded.predict(raw.x, raw.rows), predictEbm(trained.parameters, x, raw.rows));
  });

  it('config pipeline.training.ebm reaches the run settings', () => {
    const config = loadConfig();
    const tweaked = {
      ...config,
      pipeline: { ...config.pipeline, training: { ...config.pipeline.training, ebm: { rounds: 7, bins: 16 } } },
    };
    assert.deepEqual(pipelineSettings(tweaked).training.options.ebm, { rounds: 7, bins: 16 });
  });
});
