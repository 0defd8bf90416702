// The tuning search's pure parts: the search-space sampler, the tuning block of config.yaml, and the public tuning
// data's splits (validation rows in the test slot). The accounting of a private search: tuning-accounting.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfig, projectRoot } from '../../config';
import { HANDBOOK_PROTOCOL, protocolSplit } from '../../ml/protocol';
import { cachedTuningSplits, publicDataKey } from '../../ml/tuning/data-cache';
import { EVALUATION_SEED, simulatedTransactions } from '../../ml/tuning/public-data';
import { candidateOptions, describeCandidate, familySpace, type SearchSpace, sampleCandidates, textSeed } from '../../ml/tuning/space';
import { tuningSplits } from '../../ml/tuning/splits';
import { tuningInput } from '../../temporal/tuning';

const SPACE: SearchSpace = {
  family: ['logistic', 'mlp'],
  learningRate: { 'log-uniform': [0.001, 0.1] },
  epochs: { 'log-uniform': [5, 50] },
  hidden: [[16], [64, 32]],
};

describe('search-space sampler', () => {
  it('draws the same candidates for the same seed, and others for another', () => {
    const seed = textSeed('tuning-2024-01-01-abcd');
    assert.deepEqual(sampleCandidates(SPACE, 20, seed), sampleCandidates(SPACE, 20, seed));
    assert.notDeepEqual(sampleCandidates(SPACE, 20, seed), sampleCandidates(SPACE, 20, textSeed('tuning-other')));
    assert.ok(Number.isSafeInteger(seed));
  });

  it('keeps every value inside its dimension: choices from the list, log-uniform within [lo, hi], epochs whole', () => {
    const candidates = sampleCandidates(SPACE, 400, 7);
    for (const c of candidates) {
      assert.ok(['logistic', 'mlp'].includes(c.family as string));
      assert.ok((c.learningRate as number) >= 0.001 && (c.learningRate as number) <= 0.1);
      assert.ok(Number.isInteger(c.epochs) && (c.epochs as number) >= 5 && (c.epochs as number) <= 50);
      assert.ok([16, 64].includes((c.hidden as number[])[0]));
      assert.deepEqual(Object.keys(c), ['family', 'learningRate', 'epochs', 'hidden']);
    }
    // Log-uniform: about half the draws below the geometric mean √(0.001·0.1) = 0.01.
    const below = candidates.filter((c) => (c.learningRate as number) < 0.01).length / candidates.length;
    assert.ok(below > 0.4 && below < 0.6, `share below the geometric mean: ${below}`);
    assert.equal(new Set(candidates.map((c) => c.family)).size, 2);
    assert.equal(describeCandidate({ family: 'mlp', hidden: [64, 32] }), 'family=mlp hidden=[64,32]');
  });
});

describe('per-family search and candidate options', () => {
  const wide: SearchSpace = {
    family: ['logistic', 'mlp', 'ebm'],
    learningRate: { 'log-uniform': [0.005, 0.3] },
    hidden: [[16]],
    balance: ['none', 'class-weight'],
    'ebm.rounds': [5, 10],
  };

  it('a family search keeps only the keys that change that family', () => {
    assert.deepEqual(familySpace(wide, 'logistic'), { family: ['logistic'], learningRate: wide.learningRate, balance: wide.balance });
    assert.deepEqual(Object.keys(familySpace(wide, 'mlp')), ['family', 'learningRate', 'hidden', 'balance']);
    assert.deepEqual(familySpace(wide, 'ebm'), { family: ['ebm'], 'ebm.rounds': [5, 10] });
  });

  it('ebm.* keys merge into the base ebm settings; the rest override the base', () => {
    const base = { learningRate: 0.02, ebm: { cardCap: 10 } };
    assert.deepEqual(candidateOptions(base, { family: 'ebm', 'ebm.rounds': 20, 'ebm.learningRate': 0.5 }), {
      learningRate: 0.02,
      family: 'ebm',
      ebm: { cardCap: 10, rounds: 20, learningRate: 0.5 },
    });
    assert.deepEqual(candidateOptions({ learningRate: 0.02 }, { learningRate: 0.1 }), { learningRate: 0.1 });
    assert.deepEqual(base, { learningRate: 0.02, ebm: { cardCap: 10 } });
  });
});

describe('public tuning data cache', () => {
  const shape = { ...HANDBOOK_PROTOCOL, trainDays: 5 };
  const spec = { seed: 1001, customers: 60, days: 40 };

  it('keys an entry by the simulation, the protocol shape and the code, never by key order', () => {
    const key = publicDataKey(spec, shape, 'code-a');
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(publicDataKey({ days: 40, customers: 60, seed: 1001 }, { ...shape }, 'code-a'), key);
    assert.equal(publicDataKey({ ...spec, extra: 1 } as typeof spec, shape, 'code-a'), key);
    const others = [
      publicDataKey({ ...spec, seed: 1002 }, shape, 'code-a'),
      publicDataKey({ ...spec, customers: 61 }, shape, 'code-a'),
      publicDataKey({ ...spec, days: 41 }, shape, 'code-a'),
      publicDataKey(spec, { ...shape, trainDays: 6 }, 'code-a'),
      publicDataKey(spec, { ...shape, delayDays: shape.delayDays + 1 }, 'code-a'),
      publicDataKey(spec, shape, 'code-b'),
    ];
    assert.equal(new Set([key, ...others]).size, others.length + 1);
    assert.equal(publicDataKey(spec, shape), publicDataKey(spec, shape));
  });

  it('builds an entry once, then reads the same splits back', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-tuning-cache-'));
    try {
      const first = cachedTuningSplits(spec, shape, dir);
      const second = cachedTuningSplits(spec, shape, dir);
      assert.deepEqual([first.hit, second.hit], [false, true]);
      assert.deepEqual(second.splits, first.splits);
      assert.deepEqual(second.splits, tuningSplits(simulatedTransactions(spec), shape));
      assert.deepEqual(readdirSync(dir), [`${publicDataKey(spec, shape)}.v8`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tuning config and public data', () => {
  const root = projectRoot();
  const settings = () => parse(readFileSync(path.join(root, 'config.yaml'), 'utf8'));
  const secrets = { S3_ACCESS_KEY: 'fraudops', S3_SECRET_KEY: 'a-long-secret', API_TOKEN: 'a-test-token-of-16+' };

  it('refuses the evaluation seed and a bad log-uniform interval', () => {
    const raw = settings();
    raw.tuning.data.seeds = [7, EVALUATION_SEED];
    assert.throws(() => parseConfig(raw, secrets, root), /tuning\.data\.seeds = \[7,0\]: must not include 0, the evaluation data's seed/);
    const interval = settings();
    interval.tuning.space.learningRate = { 'log-uniform': [0.1, 0.01] };
    assert.throws(() => parseConfig(interval, secrets, root), /tuning\.space\.learningRate/);
    const input = tuningInput(parseConfig(settings(), secrets, root), { trials: 3 });
    assert.equal(input.trials, 3);
    assert.equal(input.options.dp, true);
  });

  it('scores the validation days: the test slot holds the validation rows, with their cards and days', () => {
    const data = simulatedTransactions({ seed: 1001, customers: 60, days: 40 });
    const shape = { ...HANDBOOK_PROTOCOL, trainDays: 5 };
    const splits = tuningSplits(data, shape);
    assert.deepEqual(splits.test.y, splits.validation.y);
    assert.deepEqual(splits.test.x, splits.validation.x);
    assert.equal(splits.test.customerId.length, splits.validation.rows);
    assert.ok(splits.test.day.every((d) => d >= 0 && d < shape.validationDays));
    assert.deepEqual(splits.periods.test, splits.periods.validation);
    const protocol = { ...shape, trainStart: splits.periods.train.from };
    assert.equal(splits.validation.rows, protocolSplit(data, protocol).validation.length);
    assert.throws(() => simulatedTransactions({ seed: EVALUATION_SEED, customers: 10, days: 5 }), /evaluation data's seed/);
  });
});
