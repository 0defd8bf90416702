// reference.json in public bins: edges from the declaration's bounds only, and the validation step's drift check and
// the scorer's gauges read it as they read any reference.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HANDBOOK_FEATURE_SET } from '../../ml/feature-set';
import { computeFeatures, FEATURE_COUNT, FEATURE_NAMES } from '../../ml/features';
import { parseReferenceStatistics, validateRecords } from '../../ml/validation';
import {
  isPublicReference,
  publicBins,
  publicReferenceOfRecords,
  publicReferenceStatistics,
  referenceRelease,
} from '../../ml/validation/public-reference';
import { countAtMost, countBelow, sortValues } from '../../ml/validation/stats';
import { HANDBOOK_DECLARATION, RecordContract, type TxRecord } from '../../records';
import { featureInputOf } from '../../serving/online-features';
import { simulate } from '../../simulator';

const thresholds = { maxFutureSeconds: 300, maxBadRowFraction: 0.001, drift: { psi: 0.2, jensenShannon: 0.1, kolmogorovSmirnov: 0.1 } };
const contract = new RecordContract(HANDBOOK_DECLARATION);

function simulated(seed: number) {
  const rows: TxRecord[] = [...simulate({ customers: 300, terminals: 400, days: 20, seed }).records()];
  const features = computeFeatures(rows.map((record) => ({ ...featureInputOf(record), fraud: record.label ?? 0 })));
  return { rows, features, n: features.length / FEATURE_COUNT };
}

const a = simulated(9);
const b = simulated(10);
const referenceOf = (data: typeof a) => publicReferenceStatistics(data.features, data.n, HANDBOOK_FEATURE_SET, 'training rows');

describe('public-bin reference (reference.json)', () => {
  it('bins every feature at edges from the public bounds alone: two datasets, the same cuts', () => {
    const [ra, rb] = [referenceOf(a), referenceOf(b)];
    const bins = publicBins(HANDBOOK_FEATURE_SET);
    assert.deepEqual(
      ra.features.map((f) => f.name),
      [...FEATURE_NAMES],
    );
    ra.features.forEach((feature, j) => {
      assert.deepEqual(feature.bins.cuts, bins[j].cuts, feature.name);
      assert.deepEqual(rb.features[j].bins.cuts, bins[j].cuts, feature.name);
      assert.equal(
        feature.bins.counts.reduce((s, c) => s + c, 0),
        a.n,
      );
    });
    assert.notDeepEqual(
      ra.features.map((f) => f.bins.counts),
      rb.features.map((f) => f.bins.counts),
    );
    assert.ok(isPublicReference(ra) && ra.basis === 'public-bins');
  });

  it('places cuts between the values a feature takes, so its CDF at a cut is exact', () => {
    const reference = referenceOf(a);
    FEATURE_NAMES.forEach((name, j) => {
      const column = sortValues(Float64Array.from({ length: a.n }, (_, i) => a.features[i * FEATURE_COUNT + j]));
      const feature = reference.features[j];
      feature.cdf.x.forEach((cut, i) => {
        assert.equal(countBelow(column, cut), countAtMost(column, cut), `${name}: a value sits on the cut ${cut}`);
        assert.equal(feature.cdf.p[i], countAtMost(column, cut) / a.n, `${name} at ${cut}`);
      });
    });
  });

  it('is a reference the validation step reads: no drift on the same population, drift on tripled amounts', () => {
    const now = a.rows[a.rows.length - 1].time + 86_400;
    const stored = publicReferenceOfRecords(a.rows, HANDBOOK_DECLARATION.bounds, 7, 'labelled rows');
    assert.deepEqual(stored, { ...referenceOf(a), split: 'labelled rows' }, 'the features the validation step computes');
    const reference = parseReferenceStatistics(JSON.parse(JSON.stringify(stored)), 'reference.json');
    const same = validateRecords(a.rows, { contract, now, thresholds, labels: 'required', reference });
    assert.deepEqual(same.failures, []);
    const tripled = a.rows.map((record) => ({ ...record, amount: record.amount * 3 }));
    const drifted = validateRecords(tripled, { contract, now, thresholds, labels: 'required', reference });
    assert.ok(
      drifted.failures.some((line) => line.includes('TX_AMOUNT')),
      drifted.failures.join('\n'),
    );
  });

  it('is named in the privacy report as exact counts outside the budget', () => {
    const release = referenceRelease(referenceOf(a), 'card');
    assert.equal(release.name, 'reference.json');
    assert.match(release.statement, new RegExp(`exact counts of the ${a.n} training rows in fixed public bins`));
    assert.match(release.statement, /no noise: removing one card moves each feature’s counts by as many as the card has rows/);
  });
});
