// A search on private data, its pure parts: the noisy score's sensitivity (brute force over neighbouring datasets),
// its noise, the trial mechanisms the space allows and the search's (ε, δ), and the config checks before it starts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { scheduledMechanism } from '../../activities/privacy-ledger';
import { parseConfig, projectRoot } from '../../config';
import { planTraining } from '../../ml/dpsgd/plan';
import { trainerOptionsFor } from '../../ml/experiment';
import { epsilon as mechanismEpsilon } from '../../ml/privacy';
import { Rng } from '../../ml/random';
import { trialCountDistribution } from '../../ml/tuning/accounting';
import {
  dailyCardHits,
  hitsNoiseSigma,
  hitsSensitivity,
  noisyCardPrecision,
  type ScoredValidationRows,
} from '../../ml/tuning/private-score';
import {
  checkPrivateSpace,
  reservedNoise,
  searchPrivacy,
  secretCandidates,
  trialMechanisms,
  trialPlan,
  trialRdp,
} from '../../ml/tuning/private-search';
import { candidateOptions, sampleCandidates, textSeed } from '../../ml/tuning/space';
import { pipelineSettings } from '../../temporal/pipeline';
import { tuningInput } from '../../temporal/tuning';

interface Row {
  score: number;
  card: number;
  day: number;
  label: number;
}

const columns = (rows: Row[]): ScoredValidationRows => ({
  score: rows.map((r) => r.score),
  card: rows.map((r) => r.card),
  day: rows.map((r) => r.day),
  label: rows.map((r) => r.label),
});

function randomRows(rng: Rng, n: number, cards: number, days: number): Row[] {
  // Few distinct scores, so ties (broken by card id) are exercised too.
  return Array.from({ length: n }, () => ({
    score: rng.uniformInt(8) / 8,
    card: rng.uniformInt(cards),
    day: rng.uniformInt(days),
    label: rng.uniform() < 0.3 ? 1 : 0,
  }));
}

describe('the private score: daily card hits', () => {
  it('counts the compromised cards among each day’s k best, a card scored by its best row', () => {
    const rows = columns([
      { score: 0.9, card: 1, day: 0, label: 0 },
      { score: 0.2, card: 1, day: 0, label: 1 }, // card 1 is compromised on day 0, ranked by its 0.9
      { score: 0.8, card: 2, day: 0, label: 0 },
      { score: 0.7, card: 3, day: 0, label: 1 },
      { score: 0.1, card: 2, day: 1, label: 1 },
    ]);
    assert.equal(dailyCardHits(rows, 2), 1 + 1); // day 0: cards 1 and 2 → 1 hit; day 1: card 2 → 1 hit
    assert.equal(dailyCardHits(rows, 3), 2 + 1);
    assert.throws(() => dailyCardHits(rows, 0), /k = 0: must be a whole number >= 1/);
  });

  it('moves by at most 1 when one row is added or removed (transaction unit), by brute force', () => {
    const rng = new Rng([7, 1]);
    for (let trial = 0; trial < 300; trial++) {
      const rows = randomRows(rng, 1 + rng.uniformInt(40), 12, 3);
      const k = 1 + rng.uniformInt(5);
      const base = dailyCardHits(columns(rows), k);
      const drop = rng.uniformInt(rows.length);
      const removed = rows.filter((_, i) => i !== drop);
      const added = [...rows, ...randomRows(rng, 1, 14, 3)];
      for (const neighbour of [removed, added]) {
        assert.ok(Math.abs(dailyCardHits(columns(neighbour), k) - base) <= hitsSensitivity('transaction', 3));
      }
    }
  });

  it('moves by at most the number of days when one card’s rows are removed (card unit), by brute force', () => {
    const rng = new Rng([7, 2]);
    let largest = 0;
    for (let trial = 0; trial < 300; trial++) {
      const rows = randomRows(rng, 10 + rng.uniformInt(60), 10, 4);
      const k = 1 + rng.uniformInt(4);
      const card = rng.uniformInt(10);
      const change = Math.abs(dailyCardHits(columns(rows.filter((r) => r.card !== card)), k) - dailyCardHits(columns(rows), k));
      assert.ok(change <= hitsSensitivity('card', 4));
      largest = Math.max(largest, change);
    }
    assert.ok(largest > 1, 'a card does reach several days (the bound is not loose by a whole unit)');
    assert.throws(() => hitsSensitivity('card', 0), /validationDays = 0/);
  });

  it('adds fresh discrete Gaussian noise of whole σ ≥ z·Δ to the count', () => {
    assert.equal(hitsNoiseSigma(2, 1), 2);
    assert.equal(hitsNoiseSigma(1.5, 7), 11);
    const draws = Array.from({ length: 400 }, () => noisyCardPrecision(50, 10, 5, 4) * 50);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    const sd = Math.sqrt(draws.reduce((a, b) => a + (b - mean) ** 2, 0) / draws.length);
    assert.ok(
      draws.every((d) => Math.abs(d - Math.round(d)) < 1e-9),
      'the noise is on the count',
    );
    assert.ok(Math.abs(mean - 50) < 1, `mean ${mean}`);
    assert.ok(sd > 3 && sd < 5, `sd ${sd}`);
    assert.ok(new Set(draws).size > 5, 'never the same draw: the noise is not seeded');
    assert.throws(() => noisyCardPrecision(1, 1, 1, 0.5), /sigma = 0.5/);
  });
});

const root = projectRoot();
const secrets = { S3_ACCESS_KEY: 'fraudops', S3_SECRET_KEY: 'a-long-secret', API_TOKEN: 'a-test-token-of-16+' };
const settings = () => parse(readFileSync(path.join(root, 'config.yaml'), 'utf8'));
const config = parseConfig(settings(), secrets, root);
const options = { ...pipelineSettings(config).training.options, accountant: 'rdp' as const, targetEpsilon: 0.5 };
const counts = { rows: 60_000, cards: 4_000 };

describe('the privacy of a private search', () => {
  it('reserves one σ per distinct mechanism of the space, each within the tuning ε', () => {
    const space = {
      family: ['logistic', 'mlp'],
      samplingRate: [0.05, 0.1],
      epochs: [5, 10],
      learningRate: { 'log-uniform': [0.1, 1] },
    } as const;
    const mechanisms = trialMechanisms(space as never, options, counts);
    assert.equal(mechanisms.length, 4, JSON.stringify(mechanisms)); // family and learning rate change no mechanism
    for (const m of mechanisms) {
      const spent = mechanismEpsilon({ ...m, delta: options.delta }, 'rdp').epsilon;
      assert.ok(spent <= 0.5 + 1e-9 && spent > 0.45, `q ${m.samplingRate}, ${m.steps} steps: ε ${spent}`);
    }
    assert.equal(reservedNoise(mechanisms, mechanisms[2]), mechanisms[2].noiseMultiplier);
    assert.throws(() => reservedNoise(mechanisms, { samplingRate: 0.3, steps: 7 }), /not among the mechanisms the search reserved/);
  });

  it('covers every trial a sampled candidate runs, at both units (the plan of 300 candidates of the config space)', () => {
    const space = { ...config.tuning.space, family: ['logistic', 'quadratic', 'mlp'] };
    for (const unit of ['transaction', 'card'] as const) {
      const unitSpace =
        unit === 'card' ? { ...space, balance: ['none', 'class-weight'] } : { ...space, balance: ['none', 'class-weight', 'stratified'] };
      const unitOptions = { ...options, privacyUnit: unit };
      const mechanisms = trialMechanisms(unitSpace, unitOptions, counts);
      for (const candidate of sampleCandidates(unitSpace, 300, textSeed(`coverage-${unit}`))) {
        const plan = trialPlan(candidateOptions(unitOptions, candidate), counts);
        assert.doesNotThrow(() => reservedNoise(mechanisms, plan), JSON.stringify(candidate));
      }
    }
  });

  it('hands the reserved σ to the trainer instead of calibrating one', () => {
    const dp = trainerOptionsFor({ ...options, noiseMultiplier: 3.25 }, 10, 1000).privacy;
    assert.ok(dp.mode === 'dp');
    assert.equal(dp.noiseMultiplier, 3.25);
    assert.equal(dp.targetEpsilon, undefined);
    assert.equal(
      planTraining(trainerOptionsFor({ ...options, noiseMultiplier: 3.25 }, 10, 1000), { rows: 1010, positives: 10 }).privacy
        ?.noiseMultiplier,
      3.25,
    );
  });

  it('draws a private search’s candidates from a secret source: never the same list twice', () => {
    const space = { learningRate: { 'log-uniform': [0.01, 1] as [number, number] } };
    assert.notDeepEqual(secretCandidates(space, 5), secretCandidates(space, 5));
    assert.equal(secretCandidates(space, 0).length, 0);
  });

  it('refuses what it cannot account: a log-uniform mechanism key, family ebm, training without DP', () => {
    assert.throws(() => checkPrivateSpace({ epochs: { 'log-uniform': [5, 50] } }, options), /tuning\.space\.epochs: .* must be a list/);
    assert.throws(
      () => checkPrivateSpace({ family: ['logistic', 'ebm'] }, options),
      /tuning\.space\.family: "ebm" cannot be searched on private data/,
    );
    assert.throws(() => checkPrivateSpace({}, { ...options, dp: false }), /pipeline\.training\.dp/);
    assert.throws(
      () => checkPrivateSpace({ balance: ['none', 'stratified'] }, { ...options, privacyUnit: 'card' }),
      /tuning\.space\.balance: stratified .* card unit refuses/,
    );
    assert.doesNotThrow(() => checkPrivateSpace({ family: ['logistic'], learningRate: { 'log-uniform': [0.1, 1] } }, options));
  });

  it('costs more than any one trial, more with more trials, and is what the ledger is charged', () => {
    const mechanisms = trialMechanisms({ samplingRate: [0.05, 0.1], epochs: [5] }, options, counts);
    const score = { sensitivity: 1, sigma: 2 };
    const few = searchPrivacy(mechanisms, score, trialCountDistribution('logarithmic', 4), 1e-7);
    const many = searchPrivacy(mechanisms, score, trialCountDistribution('logarithmic', 40), 1e-7);
    assert.ok(few.epsilon > 0.5 && many.epsilon > few.epsilon, `${few.epsilon} < ${many.epsilon}`);
    assert.deepEqual(few.ledger, { kind: 'approximate-dp', epsilon: few.epsilon, delta: 1e-7 });
    // The trial curve is the worst mechanism's plus the score's Gaussian.
    const at = 8;
    const each = mechanisms.map((m) => trialRdp([m], { sensitivity: 1, sigma: 1e9 }, at));
    assert.ok(Math.abs(trialRdp(mechanisms, score, at) - (Math.max(...each) + at / 8)) < 1e-9);
  });
});

describe('tuning.data.source private in config', () => {
  const privateConfig = (tweak: (raw: ReturnType<typeof settings>) => void) => {
    const raw = settings();
    raw.tuning.data.source = 'private';
    tweak(raw);
    return parseConfig(raw, secrets, root);
  };

  it('starts a search that carries the ledger’s privacy settings', () => {
    const input = tuningInput(privateConfig((raw) => Object.assign(raw.privacy, { tuningEpsilon: 1 })));
    assert.deepEqual(input.data, { source: 'private' });
    assert.equal(input.private?.privacy.lifetimeEpsilon, config.privacy.lifetimeEpsilon);
    assert.equal(input.private?.trialCount, config.tuning.private.trialCount);
  });

  it('refuses a search with no budget share, a δ outside its share, or a mean its law cannot take', () => {
    assert.throws(
      () => tuningInput(privateConfig((raw) => Object.assign(raw.privacy, { tuningEpsilon: 0 }))),
      /privacy\.tuningEpsilon = 0: the schedule leaves no budget/,
    );
    const shared = (raw: ReturnType<typeof settings>) => Object.assign(raw.privacy, { tuningEpsilon: 1 });
    assert.throws(
      () =>
        tuningInput(
          privateConfig((raw) => {
            shared(raw);
            raw.tuning.private.delta = raw.privacy.delta / 2;
          }),
        ),
      /tuning\.private\.delta = .*: must be below privacy\.delta \/ 2/,
    );
    assert.throws(() => tuningInput(privateConfig(shared), { trials: 1 }), /mean = 1: a logarithmic number of trials needs mean > 1/);
    assert.throws(
      () => parseConfig(Object.assign(settings(), { privacy: { ...settings().privacy, tuningEpsilon: 3 } }), secrets, root),
      /privacy\.tuningEpsilon/,
    );
  });

  it('a share for tuning leaves the pipeline’s runs more noise, within lifetimeEpsilon − share at δ/2', () => {
    const training = pipelineSettings(config).training;
    const privacy = { ...pipelineSettings(config).privacy, accountant: 'rdp' as const };
    const ref = { examples: 60_000, positives: 480, cards: 4_000 };
    const alone = scheduledMechanism({ settings: training, training: ref, privacy });
    const shared = scheduledMechanism({ settings: training, training: ref, privacy: { ...privacy, tuningEpsilon: 1 } });
    assert.ok(alone.mechanism.kind === 'poisson-gaussian' && shared.mechanism.kind === 'poisson-gaussian');
    assert.ok(shared.mechanism.noiseMultiplier > alone.mechanism.noiseMultiplier);
    const { samplingRate, noiseMultiplier, steps } = shared.mechanism;
    const inReach = mechanismEpsilon(
      { samplingRate, noiseMultiplier, steps: steps * training.protocol.trainDays, delta: privacy.delta / 2 },
      'rdp',
    );
    assert.ok(inReach.epsilon <= privacy.lifetimeEpsilon - 1 + 1e-9, `${inReach.epsilon}`);
  });
});
