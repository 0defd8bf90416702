// The lifetime privacy ledger's math: per-day PLD composition of heterogeneous entries (DP-SGD, Gaussian releases,
// an (ε, δ)-DP tuning search) against dp-accounting 0.6
// (fixture tests/fixtures/privacy/ledger-reference.json, from tools/reference/privacy_ledger.py on the same entries),
// the budget check (days named, retries replace their entry, the card unit's rolling period), the schedule's noise,
// and the config's privacy block.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ConfigError, parseConfig, projectRoot } from '../../config';
import { pldEpsilon } from '../../ml/privacy';
import {
  checkBudget,
  checkEntry,
  composeDays,
  describeExceeded,
  type LedgerBudget,
  LedgerComposer,
  type LedgerEntry,
  ledgerReport,
  scheduledNoiseMultiplier,
} from '../../ml/privacy/ledger';
import { approximateDpPld, composePlds, connectDotsPld, epsilonForDelta, selfCompose } from '../../ml/privacy/pld';

interface Fixture {
  budget: LedgerBudget;
  now: string;
  entries: LedgerEntry[];
  reference: { days: Array<{ day: string; epsilon: number; runs: string[] }> };
}
const fixture: Fixture = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'privacy', 'ledger-reference.json'), 'utf8'));

const DELTA = 1e-6;
const dpSgd = (
  runId: string,
  first: string,
  last: string,
  recordedAt: string,
  noiseMultiplier = 2,
  unit: LedgerEntry['unit'] = 'transaction',
): LedgerEntry => ({
  runId,
  unit,
  days: { first, last },
  recordedAt,
  outcome: 'promoted',
  delta: DELTA,
  mechanism: { kind: 'poisson-gaussian', samplingRate: 0.1, noiseMultiplier, steps: 50 },
});

describe('privacy ledger', () => {
  it('composes each event day like dp-accounting’s PLDAccountant (5 heterogeneous entries, DP-SGD with an (ε, δ)-DP search)', () => {
    assert.ok(fixture.entries.some((e) => e.mechanism.kind === 'approximate-dp'));
    const report = ledgerReport(fixture.entries, fixture.budget, new Date(fixture.now));
    assert.deepEqual(
      report.days.map((d) => [d.day, d.runs]),
      fixture.reference.days.map((d) => [d.day, d.runs]),
    );
    for (const [i, day] of report.days.entries()) {
      const expected = fixture.reference.days[i].epsilon;
      assert.ok(Math.abs((day.epsilon as number) - expected) < 1e-5, `${day.day}: ε ${day.epsilon}, dp-accounting ${expected}`);
      assert.equal(day.delta, fixture.budget.delta);
    }
    assert.deepEqual(Object.keys(report), ['unit', 'budget', 'days', 'worst', 'entries']);
    assert.deepEqual(report.budget, { epsilon: 3, delta: 1e-6, period: 'event-day' });
    const worst = report.worst as { day: string; epsilon: number };
    assert.equal(worst.epsilon, Math.max(...report.days.map((d) => d.epsilon as number)));
  });

  it('composes two PLDs as one mechanism of the summed steps', () => {
    const step = connectDotsPld(0.1, 1.5, 'remove', 1e-4);
    const twice = composePlds(selfCompose(step, 30), selfCompose(step, 20));
    const direct = pldEpsilon({ samplingRate: 0.1, noiseMultiplier: 1.5, steps: 50, delta: DELTA }).epsilon;
    assert.ok(Math.abs(epsilonForDelta(twice, DELTA) - direct) < 1e-6, `${epsilonForDelta(twice, DELTA)} vs ${direct}`);
  });

  it('an (ε, δ)-DP entry is its dominating PLD: ±ε rounded up to the grid, +∞ with mass δ, for add and remove', () => {
    const [epsilon, delta, interval] = [0.8, 1e-7, 1e-4];
    const pld = approximateDpPld(epsilon, delta, interval);
    assert.equal(pld.lowerIndex, Math.ceil(-epsilon / interval));
    assert.equal(pld.lowerIndex + pld.probs.length - 1, Math.ceil(epsilon / interval));
    assert.equal(pld.probs[0], (1 - delta) / (1 + Math.exp(epsilon)));
    assert.equal(pld.probs[pld.probs.length - 1], (1 - delta) / (1 + Math.exp(-epsilon)));
    assert.equal(pld.infinityMass, delta);
    // Alone, at its own δ, it gives back its ε (up to the grid).
    assert.ok(Math.abs(epsilonForDelta(pld, delta) - epsilon) <= interval);
    // At ε = 0 both losses fall in one bucket; a smaller ε than the step still has two (rounded up to 0 and Δ).
    const zero = approximateDpPld(0, 0, interval);
    assert.ok(zero.lowerIndex === 0 && zero.probs.length === 1 && zero.probs[0] === 1);
    assert.equal(approximateDpPld(interval / 3, 0, interval).probs.length, 2);
    assert.throws(() => approximateDpPld(1e4, delta, interval), /epsilon = 10000: its PLD at interval 0\.0001 needs/);
    const entry = {
      ...dpSgd('s', '2024-01-01', '2024-01-01', '2024-01-01T00:00:00Z'),
      mechanism: { kind: 'approximate-dp' as const, epsilon, delta },
    };
    assert.ok(Math.abs((new LedgerComposer(delta).epsilon([entry]) as number) - epsilon) <= interval);
  });

  it('an unbounded (non-private) entry makes its days unbounded, the others untouched', () => {
    const entries = [
      dpSgd('a', '2024-01-01', '2024-01-02', '2024-01-10T00:00:00Z'),
      { ...dpSgd('b', '2024-01-02', '2024-01-03', '2024-01-11T00:00:00Z'), mechanism: { kind: 'non-private' as const } },
    ];
    const days = composeDays(entries, DELTA);
    assert.deepEqual(
      days.map((d) => [d.day, d.epsilon === null]),
      [
        ['2024-01-01', false],
        ['2024-01-02', true],
        ['2024-01-03', true],
      ],
    );
  });

  it('refuses a run that takes a day past the budget, naming the days; a retry replaces its own entry', () => {
    const composer = new LedgerComposer(DELTA);
    const single = composer.epsilon([dpSgd('x', '2024-01-01', '2024-01-01', '2024-01-01T00:00:00Z')]) as number;
    const double = composer.epsilon([
      dpSgd('x', '2024-01-01', '2024-01-01', '2024-01-01T00:00:00Z'),
      dpSgd('y', '2024-01-01', '2024-01-01', '2024-01-02T00:00:00Z'),
    ]) as number;
    // A budget one run fits and two do not.
    const budget: LedgerBudget = { unit: 'transaction', epsilon: (single + double) / 2, delta: DELTA, periodDays: 365 };
    const first = dpSgd('a', '2024-01-01', '2024-01-07', '2024-01-10T00:00:00Z');
    const second = dpSgd('b', '2024-01-05', '2024-01-11', '2024-01-14T00:00:00Z');
    const check = checkBudget([first], second, budget, new Date('2024-01-14T00:00:00Z'));
    assert.deepEqual(
      check.exceeded.map((d) => ('day' in d ? d.day : '')),
      ['2024-01-05', '2024-01-06', '2024-01-07'],
    );
    assert.match(describeExceeded(check.exceeded), /^2024-01-05 to 2024-01-07 \(ε up to \d\.\d{3}\)$/);
    assert.deepEqual(checkBudget([first], { ...first, mechanism: { ...first.mechanism } }, budget, new Date()).exceeded, []);
  });

  it('card unit: every entry of the rolling period counts for every card, older ones do not', () => {
    const budget: LedgerBudget = { unit: 'card', epsilon: 1, delta: DELTA, periodDays: 30 };
    const old = dpSgd('old', '2023-11-01', '2023-11-07', '2023-11-10T00:00:00Z', 2, 'card');
    const recent = dpSgd('recent', '2024-01-01', '2024-01-07', '2024-01-10T00:00:00Z', 2, 'card');
    const candidate = dpSgd('new', '2024-01-02', '2024-01-08', '2024-01-11T00:00:00Z', 2, 'card');
    const check = checkBudget([old, recent], candidate, budget, new Date('2024-01-11T00:00:00Z'));
    assert.equal(check.exceeded.length, 1);
    assert.ok('period' in check.worst);
    assert.deepEqual(check.worst.runs, ['recent', 'new']);
    assert.match(describeExceeded(check.exceeded), /^every card over 2023-12-12 to 2024-01-11/);
    const report = ledgerReport([old, recent], budget, new Date('2024-01-11T00:00:00Z'));
    assert.equal(report.budget.period, '30d');
    assert.deepEqual(report.worst?.runs, ['recent']);
  });

  it('sets the noise so that the runs within reach fit the lifetime budget, and one run its own target', () => {
    // RDP calibrates fast (PLD takes seconds per calibration); the ledger's PLD composition then sits below the budget.
    const base = { samplingRate: 0.1, steps: 50, delta: DELTA, targetEpsilon: 1, accountant: 'rdp' as const };
    const loose = scheduledNoiseMultiplier({ ...base, lifetimeEpsilon: 10, runsInReach: 3 });
    assert.equal(loose.bound, 'run');
    const tight = scheduledNoiseMultiplier({ ...base, lifetimeEpsilon: 1.5, runsInReach: 3 });
    assert.equal(tight.bound, 'lifetime');
    assert.ok(tight.noiseMultiplier > loose.noiseMultiplier);
    const copies = ['a', 'b', 'c'].map((id) => ({
      ...dpSgd(id, '2024-01-01', '2024-01-01', `2024-01-0${id === 'a' ? 1 : id === 'b' ? 2 : 3}T00:00:00Z`),
      mechanism: { kind: 'poisson-gaussian' as const, samplingRate: 0.1, noiseMultiplier: tight.noiseMultiplier, steps: 50 },
    }));
    const composed = new LedgerComposer(DELTA).epsilon(copies) as number;
    assert.ok(composed <= 1.5 && composed > 1.2, `3 runs compose to ε ${composed}`);
  });

  it('checks entries, naming the field and the rule', () => {
    const entry = dpSgd('a', '2024-01-01', '2024-01-02', '2024-01-10T00:00:00Z');
    assert.throws(
      () => checkEntry({ ...entry, days: { first: '2024-01-03', last: '2024-01-02' } }),
      /ledger entry a: days must be first <= last/,
    );
    assert.throws(
      () => checkEntry({ ...entry, mechanism: { kind: 'poisson-gaussian', samplingRate: 2, noiseMultiplier: 1, steps: 1 } }),
      /mechanism\.samplingRate must be in \(0, 1\]/,
    );
    assert.throws(() => checkEntry({ ...entry, mechanism: { kind: 'laplace' } as never }), /mechanism\.kind must be/);
    const search = (epsilon: number, delta: number): LedgerEntry => ({ ...entry, mechanism: { kind: 'approximate-dp', epsilon, delta } });
    checkEntry(search(0, 0));
    assert.throws(
      () => checkEntry(search(Number.POSITIVE_INFINITY, 1e-7)),
      /ledger entry a: mechanism\.epsilon must be a finite number >= 0/,
    );
    assert.throws(() => checkEntry(search(-1, 1e-7)), /mechanism\.epsilon must be a finite number >= 0/);
    assert.throws(() => checkEntry(search(1, 1)), /mechanism\.delta must be in \[0, 1\)/);
    assert.throws(
      () => checkEntry({ ...entry, mechanism: { kind: 'composition', parts: [{ kind: 'approximate-dp', epsilon: 1, delta: -1 }] } }),
      /mechanism\.parts\[0\]\.delta must be in \[0, 1\)/,
    );
  });
});

describe('config privacy block', () => {
  const settings = () => parse(readFileSync(path.join(projectRoot(), 'config.yaml'), 'utf8'));
  const secrets = { S3_ACCESS_KEY: 'fraudops', S3_SECRET_KEY: 'a-long-secret', API_TOKEN: 'a-test-token-of-16+' };

  it('reads privacy: and names the new place of a key left in pipeline.training', () => {
    assert.deepEqual(Object.keys(parseConfig(settings(), secrets, projectRoot()).privacy).sort(), [
      'accountant',
      'delta',
      'lifetimeEpsilon',
      'lifetimePeriod',
      'targetEpsilon',
      'tuningEpsilon',
      'unit',
    ]);
    const stale = settings();
    stale.pipeline.training.targetEpsilon = 1;
    stale.pipeline.training.accountant = 'rdp';
    assert.throws(
      () => parseConfig(stale, secrets, projectRoot()),
      (err: unknown) =>
        err instanceof ConfigError &&
        /pipeline\.training\.targetEpsilon: moved to privacy\.targetEpsilon/.test(err.message) &&
        /pipeline\.training\.accountant: moved to privacy\.accountant/.test(err.message),
    );
    const badPeriod = settings();
    badPeriod.privacy.lifetimePeriod = '1y';
    assert.throws(() => parseConfig(badPeriod, secrets, projectRoot()), /privacy\.lifetimePeriod = "1y": a whole number of days/);
  });
});
