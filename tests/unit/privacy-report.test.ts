import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NOISE_CITATION } from '../../ml/dpsgd/noise';
import type { PrivacySpent } from '../../ml/dpsgd/types';
import { InvalidInputError } from '../../ml/errors';
import { buildPrivacyReport, groupPrivacy, type PreprocessingStep, type PrivacyReport, renderPrivacyReport } from '../../ml/privacy';
import { terminalInfluence } from '../../ml/privacy/terminal-influence';
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
  unit: 'transaction',
  units: 100_000,
  noise: { method: 'discrete-gaussian', secret: true, citation: NOISE_CITATION, grid: 2 ** -20 },
};
/** `spent` on `units` rows (δ is checked against 1/units). */
const onRows = (units: number, more: Partial<PrivacySpent> = {}): PrivacySpent => ({ ...spent, units, ...more });
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
    const report = buildPrivacyReport({
      spent: onRows(records),
      records,
      preprocessing: [fixedStep],
      threshold: { value: 0.37, split: 'validation' },
    });
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
      spent: onRows(10_000),
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
    assert.ok(report.notCovered.some((line) => /Other training runs on the same data .*tuning.*not composed here/.test(line)));
    assert.ok(report.notCovered.some((line) => /Metrics computed without noise on the validation and test rows/.test(line)));
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
    const small = onRows(records, { epsilon: eps, delta: 1e-9 });
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
    const report = buildPrivacyReport({ spent: onRows(1000), records: 1000, influence, preprocessing: [smoteStep] });
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
    rejects({ spent: { ...spent, units: 0 }, records, preprocessing: [] }, /spent\.units must be a whole number >= 1/);
    rejects({ spent: { ...spent, unit: 'person' as 'card' }, records, preprocessing: [] }, /spent\.unit must be/);
    rejects(
      { spent: null, records, preprocessing: [], lifetime: { epsilon: 1, delta: 1e-6, scope: 'x' } },
      /lifetime was given for a run without DP/,
    );
    const reach = terminalInfluence({ card: [1], terminal: [1], time: [0] }, [0], { labelDelayDays: 7 });
    rejects({ spent, records, preprocessing: [], terminalInfluence: reach }, /terminalInfluence is measured for the card unit/);
  });
  it('starts with the unit, the per-run and lifetime (ε, δ), the noise and the verdict, in JSON and Markdown alike', () => {
    const report = buildPrivacyReport({
      spent: onRows(50_000),
      records: 50_000,
      preprocessing: [fixedStep],
      assumptions: ['A public prior.'],
    });
    assert.equal(report.format, 'fraudops-privacy-report/2');
    assert.equal(report.covered, true, report.reasons.join('; '));
    assert.deepEqual(report.unit && [report.unit.name, report.unit.units], ['transaction', 50_000]);
    assert.deepEqual(report.perRun, { epsilon: 1, delta: 1e-6 });
    assert.equal(report.lifetime, null);
    assert.equal(report.deltaCheck?.holds, true);
    assert.equal(report.deltaCheck?.limit, 1 / 50_000);
    assert.match(report.summary[0], /^Unit: transaction: one transaction.* 50000 rows\.$/);
    assert.match(
      report.summary[1],
      /^Per run: \(ε = 1\.000, δ = 1\.00e-6\) per transaction; δ = 1\.00e-6 < 1\/50000 rows = 2\.00e-5 \(checked by the trainer/,
    );
    assert.equal(report.summary[2], 'Lifetime: not accounted (this run alone).');
    assert.match(report.summary[3], /^Noise: discrete-gaussian on the grid γ = 9\.5\d*e-7, drawn from secret randomness/);
    assert.match(report.summary[3], /Canonne/);
    assert.match(report.summary[4], /^\*\*Covered\*\*: the per-transaction guarantee above holds for the 50000 training rows/);
    assert.ok(report.assumptions.includes('A public prior.'));
    assert.ok(
      report.notCovered.some((line) => /customer windows/.test(line)),
      'the transaction unit names the customer windows',
    );
    const lines = renderPrivacyReport(report).split('\n');
    assert.deepEqual(lines.slice(0, 6), ['# Privacy report', ...report.summary.map((line) => `- ${line}`)]);
    assert.ok(lines.indexOf('## Assumptions') < lines.indexOf('## Not covered'));
    assert.ok(lines.indexOf('## Not covered') < lines.indexOf('## Guarantee'), 'assumptions and exclusions come before the details');
    assertJsonRoundTrip(report);
  });

  it('with the card unit and the ledger: lifetime of the worst card, the measured terminal reach, released files', () => {
    // Card a at terminal T on day 0 reaches rows at T from day D = 7 to day 37: card b's row on day 10, not day 40.
    const day = 86_400;
    const timeline = { card: ['a', 'b', 'b', 'c'], terminal: ['T', 'T', 'T', 'U'], time: [0, 10 * day, 40 * day, 12 * day] };
    const measured = terminalInfluence(timeline, [1, 2, 3], { labelDelayDays: 7 });
    const card: PrivacySpent = { ...spent, unit: 'card', units: 5000 };
    const report = buildPrivacyReport({
      spent: card,
      records: 80_000,
      preprocessing: [fixedStep],
      lifetime: { epsilon: 2.5, delta: 3e-6, scope: 'any card over 365 days' },
      terminalInfluence: measured,
      released: [{ name: 'reference.json', statement: 'reference.json: exact counts in public bins.' }],
    });
    assert.equal(report.covered, true, report.reasons.join('; '));
    assert.equal(report.deltaLimit, 1 / 5000);
    assert.match(report.summary[0], /^Unit: card: one card \(a pseudonymised customer id\).* 5000 cards\.$/);
    assert.match(report.summary[2], /^Lifetime: \(ε = 2\.500, δ = 3\.00e-6\) for any card over 365 days: every training attempt/);
    assert.equal(report.terminalInfluence?.otherRows.max, 1);
    assert.equal(report.terminalInfluence?.groupSize, 3, 'k = 1 + 2·(other cards changed)');
    const reach = report.notCovered.find((line) => line.startsWith("One card's transactions enter the terminal windows"));
    assert.match(reach ?? '', /up to 1 training rows of up to 1 other cards/);
    assert.ok(!report.notCovered.some((line) => /customer windows/.test(line)), 'the card unit covers its own customer windows');
    assert.ok(report.notCovered.includes('reference.json: exact counts in public bins.'));
    assert.deepEqual(
      report.released.map((item) => item.name),
      ['reference.json'],
    );
    const markdown = renderPrivacyReport(report);
    assert.match(markdown, /## Terminal influence \(card unit, not covered\)/);
    assert.match(markdown, /\| lifetime \(ε, δ\), any card over 365 days \| \(2\.500, 3\.00e-6\) \|/);
    for (const line of [...report.notCovered, ...report.assumptions]) assert.ok(markdown.includes(line), `markdown lists: ${line}`);
    assertJsonRoundTrip(report);
  });

  it('replayable noise is NOT covered whatever ε says; so is δ ≥ 1/units', () => {
    const seeded = onRows(100_000, { noise: { method: 'seeded-test-only', secret: false, citation: 'test' } });
    const replayable = buildPrivacyReport({ spent: seeded, records: 100_000, preprocessing: [fixedStep] });
    assert.equal(replayable.covered, false);
    assert.match(replayable.summary[3], /NOT secret \(replayable from a public seed\), so NOT covered whatever ε says/);
    assert.match(replayable.summary[4], /^\*\*NOT covered\*\*.*not secret/);
    const cards = buildPrivacyReport({
      spent: { ...spent, unit: 'card', units: 500, delta: 0.01 },
      records: 9000,
      preprocessing: [fixedStep],
    });
    assert.equal(cards.covered, false);
    assert.equal(cards.deltaCheck?.holds, false);
    assert.ok(cards.reasons.some((reason) => /δ = 1\.00e-2 is NOT below 1\/500 cards = 2\.00e-3/.test(reason)));
  });

  it('says so when the lifetime is unbounded (a non-private run touched the day)', () => {
    const lifetime = { epsilon: null, delta: 1e-6, scope: 'event day 2024-05-03' };
    const report = buildPrivacyReport({ spent: onRows(100_000), records: 100_000, preprocessing: [fixedStep], lifetime });
    assert.match(report.summary[2], /^Lifetime: UNBOUNDED for event day 2024-05-03: a non-private training touched it/);
    assert.match(renderPrivacyReport(report), /\| lifetime \(ε, δ\), event day 2024-05-03 \| unbounded \|/);
    assertJsonRoundTrip(report);
  });

  it('without DP: says so in every first line', () => {
    const report = buildPrivacyReport({ spent: null, records: 10, preprocessing: [fixedStep] });
    assert.deepEqual(report.summary.slice(0, 4), [
      'Unit: none: training is not differentially private.',
      'Per run: no (ε, δ).',
      'Lifetime: not accounted (no DP).',
      'Noise: none.',
    ]);
    assert.match(report.summary[4], /\*\*NOT covered\*\*/);
  });
  it("terminalInfluence: every other card's training row in [s + D, s + D + n) at the same terminal, counted once", () => {
    const rng = new Rng([5]);
    const day = 86_400;
    const n = 600;
    const timeline = {
      card: Array.from({ length: n }, () => `c${rng.uniformInt(40)}`),
      terminal: Array.from({ length: n }, () => rng.uniformInt(6)),
      time: Array.from({ length: n }, () => rng.uniformInt(90 * day)),
    };
    const targets = Array.from({ length: n }, (_, i) => i).filter(() => rng.uniform() < 0.5);
    const [D, w] = [7, 30];
    const measured = terminalInfluence(timeline, targets, { labelDelayDays: D, windowDays: w });
    // Brute force: per card, the set of target rows (and their cards) any of its transactions reaches.
    const rows = new Map<string, Set<number>>();
    const cards = new Map<string, Set<string>>();
    for (let s = 0; s < n; s++) {
      const c = timeline.card[s];
      if (!rows.has(c)) {
        rows.set(c, new Set());
        cards.set(c, new Set());
      }
      for (const t of targets) {
        const dt = timeline.time[t] - timeline.time[s];
        if (timeline.terminal[t] === timeline.terminal[s] && timeline.card[t] !== c && dt >= D * day && dt < (D + w) * day) {
          rows.get(c)?.add(t);
          cards.get(c)?.add(timeline.card[t]);
        }
      }
    }
    const sizes = (m: Map<string, Set<unknown>>) => [...m.values()].map((set) => set.size);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    assert.equal(measured.cards, rows.size);
    assert.equal(measured.otherRows.max, Math.max(...sizes(rows)));
    assert.ok(Math.abs(measured.otherRows.mean - mean(sizes(rows))) < 1e-12);
    assert.equal(measured.otherCards.max, Math.max(...sizes(cards)));
    assert.ok(Math.abs(measured.otherCards.mean - mean(sizes(cards))) < 1e-12);
    assert.equal(measured.cardsAboveZero, sizes(rows).filter((k) => k > 0).length);
    assert.ok(measured.otherRows.max > 0);
  });
});
