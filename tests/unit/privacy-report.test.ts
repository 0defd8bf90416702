import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PrivacySpent } from '../../ml/dpsgd/types';
import { InvalidInputError } from '../../ml/errors';
import { buildPrivacyReport, groupPrivacy, type PreprocessingStep, type PrivacyReport, renderPrivacyReport } from '../../ml/privacy';
import { Rng } from '../../ml/random';
import { smote } from '../../ml/smote';
import { fitTransform, fixedTransform, transformStep } from '../../ml/transforms';

const spent: PrivacySpent = {
  epsilon: 1,
  delta: 1e-6,
  noiseMultiplier: 1.1,
  samplingRate: 0.01,
  steps: 2000,
  clipNorm: 1,
  accountant: 'rdp',
};
const fixedStep = transformStep(fixedTransform());
const smoteStep: PreprocessingStep = {
  name: 'SMOTE over-sampling',
  treatment: 'group-privacy',
  description: 'synthetic minority rows interpolate pairs of real records; accounted by group privacy over the measured influence',
};

/** SMOTE influence counts on a small imbalanced data set. */
function smoteInfluence(rows: number): Uint32Array {
  const rng = new Rng([11]);
  const x = Float64Array.from({ length: rows * 3 }, () => rng.normal());
  const y = Uint8Array.from({ length: rows }, (_, i) => (i % 10 === 0 ? 1 : 0));
  return smote({ x, y, rows, cols: 3 }, { ratio: 0.5, seed: 1 }).influence;
}

function assertJsonRoundTrip(report: PrivacyReport): void {
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
}

describe('privacy report', () => {
  it('non-private training: not covered, no (ε, δ), and says why', () => {
    const report = buildPrivacyReport({
      spent: null,
      records: 1000,
      preprocessing: [transformStep(fitTransform('standard', new Float64Array(15), 1))],
    });
    assert.equal(report.covered, false);
    assert.equal(report.perExample, null);
    assert.equal(report.perRecord, null);
    assert.equal(report.reasons.length, 2);
    assert.match(report.reasons[0], /not differentially private/);
    assert.match(report.reasons[1], /feature transform \(standard\).*without DP/);
    const markdown = renderPrivacyReport(report);
    assert.match(markdown, /\*\*NOT covered\*\*/);
    assert.match(markdown, /None: training was not differentially private/);
    assertJsonRoundTrip(report);
  });

  it('DP-SGD without over-sampling: per-record equals per-example, covered when δ < 1/N', () => {
    const records = 100_000;
    const report = buildPrivacyReport({ spent, records, preprocessing: [fixedStep], threshold: { value: 0.37, split: 'validation' } });
    assert.equal(report.covered, true, report.reasons.join('; '));
    assert.deepEqual(report.reasons, []);
    assert.equal(report.deltaLimit, 1 / records);
    assert.deepEqual([report.perExample?.epsilon, report.perExample?.delta], [spent.epsilon, spent.delta]);
    assert.equal(report.perRecord?.groupSize, 1);
    assert.equal(report.perRecord?.epsilon, spent.epsilon);
    assert.ok(Math.abs((report.perRecord?.delta ?? 0) - spent.delta) < 1e-20);
    assert.equal(report.influence, null);
    const markdown = renderPrivacyReport(report);
    assert.match(markdown, /\*\*Covered\*\*/);
    assert.match(markdown, /\| per-record \(ε, δ\) \| \(1\.000, 1\.00e-6\) \|/);
    assertJsonRoundTrip(report);
  });

  it('the threshold chosen on validation data is outside the budget, and the exclusions are listed', () => {
    const report = buildPrivacyReport({
      spent,
      records: 10_000,
      preprocessing: [fixedStep],
      threshold: { value: 0.37, split: 'validation' },
    });
    assert.equal(report.threshold?.insideBudget, false);
    assert.match(
      report.threshold?.statement ?? '',
      /0\.37 was chosen on the validation split without noise: it is NOT inside the privacy budget/,
    );
    assert.match(report.threshold?.statement ?? '', /released with a threshold fitted on non-private validation data/);
    assert.ok(report.notCovered.some((line) => /Hyperparameter tuning/.test(line)));
    assert.ok(report.notCovered.includes(report.threshold?.statement ?? ''));
    const markdown = renderPrivacyReport(report);
    for (const line of [...report.notCovered, ...report.assumptions]) assert.ok(markdown.includes(line), `markdown lists: ${line}`);
  });

  it('SMOTE: per-record (kε, k·e^{(k−1)ε}·δ) over the max measured influence, with its distribution', () => {
    const influence = smoteInfluence(2000);
    const records = influence.length;
    const k = Math.max(...influence);
    assert.ok(k > 1);
    const eps = 0.05;
    const small: PrivacySpent = { ...spent, epsilon: eps, delta: 1e-9 };
    const report = buildPrivacyReport({ spent: small, records, influence, preprocessing: [fixedStep, smoteStep] });
    assert.equal(report.perRecord?.groupSize, k);
    assert.ok(Math.abs((report.perRecord?.epsilon ?? 0) - k * eps) < 1e-12);
    const expectedDelta = k * Math.exp((k - 1) * eps) * 1e-9;
    assert.ok(
      Math.abs((report.perRecord?.delta ?? 0) - expectedDelta) <= 1e-12 * expectedDelta,
      `${report.perRecord?.delta} vs ${expectedDelta}`,
    );
    const above = influence.filter((v) => v > 1).length;
    assert.equal(report.influence?.max, k);
    assert.equal(report.influence?.recordsAboveOne, above);
    assert.equal(report.influence?.shareAboveOne, above / records);
    assert.equal(
      report.influence?.histogram.reduce((s, h) => s + h.records, 0),
      records,
    );
    assert.equal(report.covered, false, 'SMOTE is not DP itself: the group bound is an estimate, never a guarantee');
    assert.ok(report.reasons.some((reason) => /SMOTE\) is not itself differentially private/.test(reason)));
    assert.equal(
      report.reasons.some((reason) => /not below 1\/N/.test(reason)),
      expectedDelta >= 1 / records,
    );
    assert.ok(report.assumptions.some((line) => line.includes(`counts the ${k} examples`) && /not a DP mechanism/.test(line)));
    const markdown = renderPrivacyReport(report);
    assert.match(markdown, new RegExp(`group size k \\(max influence\\) \\| ${k} \\|`));
    assert.match(markdown, /Vadhan/);
    assertJsonRoundTrip(report);
  });

  it('marks per-record δ ≥ 1/N as not covered and states both numbers', () => {
    const influence = Uint32Array.from({ length: 1000 }, (_, i) => (i === 0 ? 20 : 1));
    const report = buildPrivacyReport({ spent, records: 1000, influence, preprocessing: [smoteStep] });
    const delta = 20 * Math.exp(19) * 1e-6;
    assert.ok(delta >= 1 / 1000);
    assert.equal(report.covered, false);
    assert.equal(report.reasons.length, 2);
    assert.match(report.reasons[0], /per-record δ = 1 \(vacuous\) is not below 1\/N = 1\.00e-3 \(N = 1000 records\)/);
    assert.equal(report.perRecord?.delta, Math.min(1, delta));
  });

  it('group privacy: matches the hybrid-argument sum, never overflows, caps δ at 1', () => {
    for (const [eps, delta, k] of [
      [0.5, 1e-6, 3],
      [1, 1e-8, 7],
      [0.1, 1e-5, 12],
    ]) {
      const { epsilon, delta: groupDelta } = groupPrivacy(eps, delta, k);
      let chain = 0;
      for (let i = 0; i < k; i++) chain += Math.exp(i * eps) * delta;
      assert.equal(epsilon, k * eps);
      assert.ok(chain <= groupDelta * (1 + 1e-12), `the bound covers the chain sum (${chain} ≤ ${groupDelta})`);
    }
    const huge = groupPrivacy(8, 1e-6, 200);
    assert.equal(huge.delta, 1);
    assert.ok(Number.isFinite(huge.log10DeltaBound) && huge.log10DeltaBound > 300);
  });

  it('rejects inconsistent input, naming the field', () => {
    const influence = smoteInfluence(200);
    const records = influence.length;
    const rejects = (input: Parameters<typeof buildPrivacyReport>[0], pattern: RegExp) =>
      assert.throws(
        () => buildPrivacyReport(input),
        (err: Error) => err instanceof InvalidInputError && pattern.test(err.message),
      );
    rejects({ spent, records: records + 1, influence, preprocessing: [smoteStep] }, /influence has \d+ counts/);
    rejects({ spent, records, preprocessing: [smoteStep] }, /influence counts are required/);
    rejects({ spent, records, influence, preprocessing: [] }, /no preprocessing step has treatment group-privacy/);
    rejects({ spent, records: 3, influence: [1, 0, 2], preprocessing: [smoteStep] }, /influence\[1\] = 0/);
    rejects({ spent: { ...spent, epsilon: Number.POSITIVE_INFINITY }, records, preprocessing: [] }, /spent\.epsilon/);
    rejects({ spent: { ...spent, delta: 2 }, records, preprocessing: [] }, /delta must be/);
    rejects({ spent, records: 0, preprocessing: [] }, /records must be/);
    rejects({ spent, records, preprocessing: [{ ...smoteStep, treatment: 'dp' as 'not-private' }] }, /treatment = "dp"/);
  });
});
