// Data validation: row rules, feature statistics, drift scores, the report, its HTML, the error and the CLI.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import { datasetColumns, keepColumns } from '../../activities/dataset-columns';
import type { ActivityDeps } from '../../activities/deps';
import { registerValidateCommands, type ValidateSettings } from '../../cli/validate';
import { columnsFromRecords, labelledRecords } from '../../dataset/snapshot';
import { InvalidInputError } from '../../ml/errors';
import { computeFeatures, FEATURE_COUNT, FEATURE_NAMES } from '../../ml/features';
import { Rng } from '../../ml/random';
import {
  columnStatistics,
  DataValidationError,
  featureReports,
  jensenShannonDivergence,
  kolmogorovSmirnovFromCdf,
  parseReferenceStatistics,
  populationStabilityIndex,
  referenceStatistics,
  renderHtmlReport,
  throwIfFailed,
  type ValidationConfig,
  type ValidationReport,
  validateDataset,
  validateLabelledColumns,
  validateRecords,
} from '../../ml/validation';
import { publicReferenceOfRecords, publicReferenceStatistics } from '../../ml/validation/public-reference';
import { findDuplicateIds } from '../../ml/validation/rules';
import { sortValues } from '../../ml/validation/stats';
import { HANDBOOK_DECLARATION, RecordContract } from '../../records';
import { featureInputOf } from '../../serving/online-features';
import { CSV_HEADER, csvLines, simulate, type Transaction } from '../../simulator';
import { cardsDeclaration } from '../cards-feed';

const thresholds: ValidationConfig = {
  maxFutureSeconds: 300,
  maxBadRowFraction: 0.001,
  drift: { psi: 0.2, jensenShannon: 0.1, kolmogorovSmirnov: 0.1 },
};
// 2000 customers: with a few hundred, two seeds draw visibly different customer populations (KS ≈ 0.1 on the 30-day average amount).
const SIZES = { customers: 2000, terminals: 2000, days: 21 };
const clean = simulate({ ...SIZES, seed: 11 });
const other = simulate({ ...SIZES, seed: 12 });
const cleanRecords: Transaction[] = Array.from(clean);
const contract = new RecordContract(HANDBOOK_DECLARATION);
const lastTime = contract.readTime(cleanRecords[cleanRecords.length - 1].TX_DATETIME);
const now = lastTime + 86_400;
const baseline = validateDataset(cleanRecords, { contract, now, thresholds, labels: 'required' });
const reference = referenceStatistics(baseline);

const run = (records: readonly unknown[], withReference = true) =>
  validateDataset(records, { contract, now, thresholds, labels: 'required', reference: withReference ? reference : undefined });
const AMOUNT_RULE = /TX_AMOUNT must be a number in \[0, 100000\] \(records\.bounds\.amount\)/.source;

/** A copy of the clean records with `mutate` applied to each. */
function mutated(mutate: (record: Record<string, unknown>, i: number) => void): Record<string, unknown>[] {
  return cleanRecords.map((tx, i) => {
    const record: Record<string, unknown> = { ...tx };
    mutate(record, i);
    return record;
  });
}

const every = (n: number) => (i: number) => i % n === 7;
const ampleBad = every(Math.floor(cleanRecords.length / 200)); // ~200 rows: 0.33 %, above maxBadRowFraction 0.1 %
const amountStd = reference.features.find((f) => f.name === 'TX_AMOUNT')?.std ?? Number.NaN;

describe('validateDataset: each problem is detected and named', () => {
  it('passes the clean dataset with no failure and no warning', () => {
    assert.equal(baseline.status, 'pass', baseline.failures.join('\n'));
    assert.deepEqual(baseline.warnings, []);
    assert.equal(baseline.rows.valid, cleanRecords.length);
    assert.equal(baseline.features.length, FEATURE_NAMES.length);
  });

  const cases: { name: string; records: () => unknown[]; reference?: boolean; expect: RegExp[]; check?: (r: ValidationReport) => void }[] =
    [
      {
        name: 'wrong types',
        records: () =>
          mutated((r, i) => {
            if (ampleBad(i)) r.TX_AMOUNT = '12.5x';
            if (i === 3) r.CUSTOMER_ID = 1.5;
            if (i === 4) r.TERMINAL_ID = 'T-17'; // a string id is an id
          }),
        expect: [
          /^\d+ of \d+ rows \([\d.]+ %\) fail the record contract, above maxBadRowFraction 0\.1 %$/,
          new RegExp(`^${AMOUNT_RULE}: \\d+ rows, e\\.g\\. row 7 \\(id 7\\) TX_AMOUNT = "12\\.5x"`),
          /^CUSTOMER_ID must be a non-empty string .* or a whole number >= 0 below 2\^53 .*: 1 row, e\.g\. row 3 \(id 3\) CUSTOMER_ID = 1\.5$/,
        ],
        check: (r) => assert.ok(!r.rules.some((rule) => rule.field === 'TERMINAL_ID')),
      },
      {
        name: 'missing fields',
        records: () =>
          mutated((r, i) => {
            if (ampleBad(i)) delete r.TERMINAL_ID;
          }),
        expect: [/^TERMINAL_ID is required: \d+ rows, e\.g\. row 7 \(id 7\)/],
      },
      {
        name: 'negative amounts',
        records: () =>
          mutated((r, i) => {
            if (ampleBad(i)) r.TX_AMOUNT = -3.5;
          }),
        expect: [new RegExp(`^${AMOUNT_RULE}: \\d+ rows, e\\.g\\. row 7 \\(id 7\\) TX_AMOUNT = -3\\.5`)],
        check: (r) => assert.equal(r.columns.TX_AMOUNT.summary?.min, -3.5),
      },
      {
        name: 'timestamps in the future',
        records: () =>
          mutated((r, i) => {
            if (i >= cleanRecords.length - 3) r.TX_DATETIME = new Date((now + 3600) * 1000).toISOString().replace('T', ' ').slice(0, 19);
          }),
        expect: [/^TX_DATETIME in the future: 3 rows after .* \(now \+ 300 s\), latest \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/],
        check: (r) => assert.deepEqual(r.future.examples[0].row, cleanRecords.length - 3),
      },
      {
        name: 'duplicated ids',
        records: () =>
          mutated((r, i) => {
            if (i >= 100 && i < 105) r.TRANSACTION_ID = 99;
          }),
        expect: [/^TRANSACTION_ID duplicated: 1 id on 6 rows, e\.g\. id 99 at rows 99, 100, 101, 102, 103$/],
        check: (r) => assert.deepEqual(r.duplicates, { ids: 1, rows: 6, examples: [{ id: '99', rows: [99, 100, 101, 102, 103] }] }),
      },
      {
        name: 'a constant column (against a reference)',
        records: () =>
          mutated((r) => {
            r.TX_AMOUNT = 42;
          }),
        expect: [/^TX_AMOUNT is constant \(every row = 42\) but varies in the reference; drift /],
      },
      {
        name: 'a constant column (no reference)',
        records: () =>
          mutated((r) => {
            r.TX_AMOUNT = 42;
          }),
        reference: false,
        expect: [/^TX_AMOUNT is constant \(every row = 42\) but amounts must vary$/, /^CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW is constant/],
      },
      {
        name: 'TX_AMOUNT shifted by +2 standard deviations',
        records: () =>
          mutated((r) => {
            r.TX_AMOUNT = Math.round(((r.TX_AMOUNT as number) + 2 * amountStd) * 100) / 100;
          }),
        expect: [/^TX_AMOUNT drift (PSI|KS|JS) [\d.]+ > 0\.\d/],
        check: (r) => {
          const night = r.features.find((f) => f.name === 'TX_DURING_NIGHT');
          assert.equal(night?.drift?.drifted, false, 'the time-of-day feature did not move');
        },
      },
    ];
  for (const c of cases) {
    it(`fails on ${c.name}, naming the field and rule`, () => {
      const report = run(c.records(), c.reference ?? true);
      assert.equal(report.status, 'fail');
      for (const pattern of c.expect) {
        assert.ok(
          report.failures.some((f) => pattern.test(f)),
          `no failure matches ${pattern}:\n${report.failures.join('\n')}`,
        );
      }
      c.check?.(report);
      assert.doesNotThrow(() => JSON.parse(JSON.stringify(report)));
    });
  }

  it('records drift below the hard limit as a warning and passes; past it, fails naming the limit', () => {
    const hardLimit = { psi: 20, jensenShannon: 0.95, kolmogorovSmirnov: 0.98 };
    const withLimit = (records: readonly unknown[]) =>
      validateDataset(records, {
        contract,
        now,
        thresholds: { ...thresholds, drift: { ...thresholds.drift, hardLimit } },
        labels: 'required',
        reference,
      });
    const shifted = withLimit(
      mutated((r) => {
        r.TX_AMOUNT = Math.round(((r.TX_AMOUNT as number) + 2 * amountStd) * 100) / 100;
      }),
    );
    assert.equal(shifted.status, 'pass', shifted.failures.join('\n'));
    assert.ok(shifted.warnings.some((w) => /^TX_AMOUNT drift (PSI|KS|JS) [\d.]+ > 0\.\d.*\(recorded; below the hard limit\)$/.test(w)));
    assert.equal(shifted.features.find((f) => f.name === 'TX_AMOUNT')?.drift?.drifted, true);
    // Amounts in cents instead of units: broken data, not a changing world.
    const cents = withLimit(
      mutated((r) => {
        r.TX_AMOUNT = Math.min(100_000, Math.round((r.TX_AMOUNT as number) * 100));
      }),
    );
    assert.equal(cents.status, 'fail');
    assert.ok(
      cents.failures.some((f) => /^TX_AMOUNT drift .*, beyond the hard limit \((PSI|KS|JS) [\d.]+ > [\d.]+/.test(f)),
      cents.failures.join('\n'),
    );
  });

  it('lists bad rows within maxBadRowFraction as warnings and passes', () => {
    const report = run(
      mutated((r, i) => {
        if (i < 3) r.TX_AMOUNT = -1;
      }),
    );
    assert.equal(report.status, 'pass', report.failures.join('\n'));
    assert.equal(report.rows.bad, 3);
    assert.ok(report.warnings.some((w) => new RegExp(`^${AMOUNT_RULE}: 3 rows`).test(w)));
  });

  it('passes a dataset from another seed of the simulator against the reference (no false drift)', () => {
    const report = run(Array.from(other));
    assert.equal(report.status, 'pass', report.failures.join('\n'));
    for (const feature of report.features) {
      assert.ok(feature.drift, `${feature.name} compared`);
      assert.equal(feature.drift.drifted, false, feature.name);
      assert.ok(feature.drift.psi < thresholds.drift.psi / 4, `${feature.name} PSI ${feature.drift.psi}`);
    }
  });

  it('with labels absent, skips the label-dependent features and still checks the others', () => {
    const unlabelled = cleanRecords.map(({ TX_FRAUD, TX_FRAUD_SCENARIO, ...rest }) => rest);
    const report = validateDataset(unlabelled, { contract, now, thresholds, labels: 'absent', reference });
    assert.equal(report.status, 'pass', report.failures.join('\n'));
    const risk = report.features.filter((f) => f.name.startsWith('TERMINAL_ID_RISK_'));
    assert.equal(risk.length, 3);
    assert.ok(risk.every((f) => !f.checked && !f.drift));
    assert.ok(report.warnings.some((w) => w.startsWith('labels absent: TERMINAL_ID_RISK_1DAY_WINDOW')));
    assert.ok(report.features.find((f) => f.name === 'TX_AMOUNT')?.drift);
    // The same records with labels required break the schema on every row.
    const strict = validateDataset(unlabelled, { contract, now, thresholds, labels: 'required' });
    assert.ok(strict.failures.some((f) => f.startsWith(`TX_FRAUD is required: ${cleanRecords.length} rows`)));
  });

  it('sorts rows that are out of time order before computing features, and says so', () => {
    // The second half first: a stable sort by time restores the original order exactly.
    let half = Math.floor(cleanRecords.length / 2);
    while (cleanRecords[half].TX_DATETIME === cleanRecords[half - 1].TX_DATETIME) half++;
    const report = run([...cleanRecords.slice(half), ...cleanRecords.slice(0, half)]);
    assert.equal(report.rows.timeOrdered, false);
    assert.ok(report.warnings.some((w) => w.includes('not in TX_DATETIME order')));
    assert.deepEqual(
      report.features.map((f) => f.stats),
      baseline.features.map((f) => f.stats),
    );
  });

  it('fails on no records and on records that are not objects', () => {
    assert.deepEqual(run([]).failures, ['dataset has no records']);
    const report = run([null, 'x', [1]]);
    assert.ok(report.failures.includes('none of the 3 rows passes the record contract'));
    assert.ok(report.failures.some((f) => f.startsWith('(record) must be a JSON object: 3 rows')));
  });
});

describe('validateLabelledColumns: the labelled rows of a snapshot, straight from its columns', () => {
  const records = Array.from({ length: clean.size }, (_, i) => clean.record(i));
  // Some rows without a label yet (not validated), a few that break the contract as it stands (an amount beyond the
  // bounds, a label that is not 0/1), one repeated id.
  const columns = columnsFromRecords(records, HANDBOOK_DECLARATION);
  for (let i = 0; i < columns.rows; i += 97) columns.fraud[i] = -1;
  columns.amount[5] = 1e9;
  columns.fraud[8] = 2;
  columns.transactionId[12] = columns.transactionId[11];
  const options = { contract, now, thresholds, reference };

  it('gives the report validateRecords gives for the same labelled records', () => {
    const { report } = validateLabelledColumns(columns, options);
    const expected = validateRecords(labelledRecords(columns), { ...options, labels: 'required' });
    assert.deepEqual(report, expected);
    assert.equal(report.rows.bad, 2);
    assert.equal(report.duplicates.rows, 2);
    const { features, publicReference } = validateLabelledColumns(columns, { ...options, referenceSplit: 'valid rows' });
    const set = { names: [...FEATURE_NAMES], bounds: HANDBOOK_DECLARATION.bounds };
    assert.deepEqual(publicReference, publicReferenceStatistics(features, report.rows.valid, set, 'valid rows'));
  });

  it('returns the features of the valid rows: the public reference of a clean snapshot is the one of its records', () => {
    const cleanColumns = columnsFromRecords(records, HANDBOOK_DECLARATION);
    const { report, features, publicReference } = validateLabelledColumns(cleanColumns, { ...options, referenceSplit: 'rows' });
    assert.equal(report.status, 'pass', report.failures.join('\n'));
    assert.equal(features.length, records.length * FEATURE_COUNT);
    const set = { names: [...FEATURE_NAMES], bounds: HANDBOOK_DECLARATION.bounds };
    const ofRecords = publicReferenceOfRecords([...labelledRecords(cleanColumns)], HANDBOOK_DECLARATION.bounds, 7, 'rows');
    assert.deepEqual(publicReferenceStatistics(features, records.length, set, 'rows'), ofRecords);
    assert.deepEqual(publicReference, ofRecords, 'the public reference counted off the sorted columns is the same');
    assert.equal(validateLabelledColumns(columns, options).publicReference, undefined, 'only when asked for');
  });
});

describe('findDuplicateIds', () => {
  const valid = (id: string[]) => ({ id, row: Int32Array.from(id.keys()) }) as Parameters<typeof findDuplicateIds>[0];
  it('finds repeated whole-number ids by value and any other ids as text, with the same counts', () => {
    const numbers = ['7', '3', '7', '10', '3', '7', '0'];
    assert.deepEqual(findDuplicateIds({ ...valid(numbers), count: numbers.length }), {
      ids: 2,
      rows: 5,
      examples: [
        { id: '3', rows: [1, 4] },
        { id: '7', rows: [0, 2, 5] },
      ],
    });
    // '07' is not the canonical text of 7: the ids are compared as text.
    const text = ['7', '07', 'a', '7', 'a'];
    assert.deepEqual(findDuplicateIds({ ...valid(text), count: text.length }), {
      ids: 2,
      rows: 4,
      examples: [
        { id: '7', rows: [0, 3] },
        { id: 'a', rows: [2, 4] },
      ],
    });
  });
});

describe('datasetColumns: one S3 read of a dataset for validation and features', () => {
  it('hands the columns a step kept to the next step of the same dataset, once', async () => {
    let reads = 0;
    const deps = {
      config: { stack: { s3: { bucket: 'b' } } },
      s3: {
        getObject: async () => {
          reads++;
          throw Object.assign(new Error('no such key'), { code: 'NoSuchKey' });
        },
      },
    } as unknown as ActivityDeps;
    const columns = columnsFromRecords([], HANDBOOK_DECLARATION);
    keepColumns({ sha256: 'abc' }, columns);
    assert.equal(await datasetColumns(deps, { sha256: 'abc', prefix: 'datasets' }, HANDBOOK_DECLARATION), columns);
    assert.equal(reads, 0);
    await assert.rejects(datasetColumns(deps, { sha256: 'abc', prefix: 'datasets' }, HANDBOOK_DECLARATION));
    assert.equal(reads, 1, 'taken once: the next read goes to S3');
    keepColumns({ sha256: 'abc' }, columns);
    await assert.rejects(datasetColumns(deps, { sha256: 'other', prefix: 'datasets' }, HANDBOOK_DECLARATION));
    assert.equal(reads, 2, 'another dataset is read');
  });
});

describe('featureReports: one feature shifted by +2 standard deviations', () => {
  it('flags exactly that feature', () => {
    const matrix = computeFeatures(
      cleanRecords.map((tx) => {
        const { value } = contract.readTransaction(tx, { labels: 'required' });
        assert.ok(value);
        return { ...featureInputOf(value), fraud: tx.TX_FRAUD };
      }),
    );
    const j = FEATURE_NAMES.indexOf('CUSTOMER_ID_NB_TX_7DAY_WINDOW');
    const std = reference.features.find((f) => f.name === FEATURE_NAMES[j])?.std ?? Number.NaN;
    const unshifted = featureReports(matrix, { labels: 'required', reference, drift: thresholds.drift });
    assert.deepEqual(
      unshifted.filter((f) => f.failed).map((f) => f.name),
      [],
    );
    for (let i = j; i < matrix.length; i += FEATURE_COUNT) matrix[i] += 2 * std;
    const shifted = featureReports(matrix, { labels: 'required', reference, drift: thresholds.drift });
    assert.deepEqual(
      shifted.filter((f) => f.failed).map((f) => f.name),
      ['CUSTOMER_ID_NB_TX_7DAY_WINDOW'],
    );
    const drift = shifted[j].drift;
    assert.ok(drift && drift.psi > 1 && drift.ks > 0.5 && drift.js > 0.2, JSON.stringify(drift && { ...drift, bins: 0, histogram: 0 }));
  });
});

describe('drift scores', () => {
  it('PSI matches a hand computation and is 0 for identical shares', () => {
    // shares 0.5/0.3/0.2 → 0.4/0.4/0.2
    const expected = (0.4 - 0.5) * Math.log(0.4 / 0.5) + (0.4 - 0.3) * Math.log(0.4 / 0.3) + 0;
    assert.ok(Math.abs(populationStabilityIndex([50, 30, 20], [40, 40, 20]) - expected) < 1e-12);
    assert.ok(Math.abs(expected - 0.0510826) < 1e-6);
    assert.equal(populationStabilityIndex([5, 3, 2], [500, 300, 200]), 0);
    // An empty bin is floored at 1e-4: 2 · (1 − 1e-4) · ln(1e4).
    assert.ok(Math.abs(populationStabilityIndex([10, 0], [0, 10]) - 2 * (1 - 1e-4) * Math.log(1e4)) < 1e-9);
  });

  it('Jensen–Shannon divergence (bits) matches a hand computation, 0 for identical and 1 for disjoint shares', () => {
    const m = [0.45, 0.35, 0.2];
    const kl = (p: number[]) => p.reduce((sum, pi, i) => sum + (pi > 0 ? pi * Math.log2(pi / m[i]) : 0), 0);
    const expected = 0.5 * kl([0.5, 0.3, 0.2]) + 0.5 * kl([0.4, 0.4, 0.2]);
    assert.ok(Math.abs(jensenShannonDivergence([50, 30, 20], [40, 40, 20]) - expected) < 1e-12);
    assert.ok(Math.abs(expected - 0.0091859) < 1e-6);
    assert.equal(jensenShannonDivergence([1, 2, 3], [2, 4, 6]), 0);
    assert.equal(jensenShannonDivergence([1, 0], [0, 1]), 1);
  });

  const summaryOf = (values: number[]) => {
    const s = columnStatistics(Float64Array.from(values), 0).summary;
    assert.ok(s);
    return s;
  };
  const sorted = (values: number[]) => Float64Array.from(values).sort();

  it('KS matches hand computations, including mass between grid points', () => {
    assert.equal(kolmogorovSmirnovFromCdf(summaryOf([1, 2, 3, 4]).cdf, sorted([3, 4, 5, 6])), 0.5);
    assert.equal(kolmogorovSmirnovFromCdf(summaryOf([1, 2, 3, 4]).cdf, sorted([4, 3, 2, 1])), 0);
    // Reference 70 % at 0, 30 % at 1; current moves the 30 % to 0.5: sup |F_ref − F_cur| = 0.3 just below 1.
    const ref = summaryOf([...Array(70).fill(0), ...Array(30).fill(1)]);
    const ks = kolmogorovSmirnovFromCdf(ref.cdf, sorted([...Array(70).fill(0), ...Array(30).fill(0.5)]));
    assert.ok(Math.abs(ks - 0.3) < 1e-12, `${ks}`);
  });

  it('KS on the percentile grid is within 1.1 % below the exact two-sample statistic', () => {
    const rng = new Rng([7]);
    const a = Array.from({ length: 5000 }, () => rng.normal());
    const b = Array.from({ length: 4000 }, () => rng.normal(0.15, 1.1));
    const sa = sorted(a);
    const sb = sorted(b);
    // Exact two-sample KS: walk both sorted samples, comparing the CDFs after each distinct value.
    let exact = 0;
    for (let i = 0, j = 0; i < sa.length || j < sb.length; ) {
      const x = Math.min(sa[i] ?? Number.POSITIVE_INFINITY, sb[j] ?? Number.POSITIVE_INFINITY);
      while (sa[i] === x) i++;
      while (sb[j] === x) j++;
      exact = Math.max(exact, Math.abs(i / sa.length - j / sb.length));
    }
    const grid = kolmogorovSmirnovFromCdf(summaryOf(a).cdf, sb);
    assert.ok(grid <= exact + 1e-12 && grid >= exact - 0.011, `grid ${grid}, exact ${exact}`);
  });
});

describe('column statistics', () => {
  it('counts, moments, quantiles and bins of 1..100', () => {
    const stats = columnStatistics(
      Float64Array.from({ length: 100 }, (_, i) => 100 - i),
      4,
    );
    const s = stats.summary;
    assert.ok(s);
    assert.equal(stats.count, 100);
    assert.equal(stats.missing, 4);
    assert.equal(s.mean, 50.5);
    assert.ok(Math.abs(s.std - Math.sqrt((100 * 101) / 12)) < 1e-9); // sample variance of 1..n is n(n+1)/12
    assert.equal(s.quantiles.p50, 50.5);
    assert.equal(s.quantiles.p01, 1.99);
    assert.equal(s.integer, true);
    assert.equal(s.histogram.counts.length, 40);
    assert.deepEqual(s.bins.counts, Array(10).fill(10));
    assert.equal(
      s.histogram.counts.reduce((a, b) => a + b, 0),
      100,
    );
    assert.equal(s.cdf.x.length, 101);
  });

  it('gives one display bin per value to small-range integers and handles a constant column', () => {
    const flags = columnStatistics(Float64Array.from([0, 1, 1, 0, 1]), 0).summary;
    assert.deepEqual(flags?.histogram, { edges: [-0.5, 0.5, 1.5], counts: [2, 3] });
    const constant = columnStatistics(Float64Array.from([2.5, 2.5, 2.5]), 0).summary;
    assert.deepEqual(constant?.histogram, { edges: [2, 3], counts: [3] });
    assert.equal(constant?.std, 0);
    assert.deepEqual(columnStatistics(new Float64Array(0), 7), { count: 0, missing: 7 });
  });

  it('sorts small-range integers by counting exactly as the native sort does', () => {
    const rng = new Rng([3]);
    const values = Float64Array.from({ length: 10_000 }, () => rng.uniformInt(50) - 20);
    assert.deepEqual(sortValues(values.slice()), values.slice().sort());
  });

  it('sorts any other finite values by their bits exactly as the native sort does (signs, zeros, ties, wide ranges)', () => {
    const rng = new Rng([4]);
    const special = [0, -0, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 1, -1, 0.1, -0.1];
    const mixed = Float64Array.from({ length: 20_000 }, (_, i) =>
      i < special.length ? special[i] : i % 3 === 0 ? Math.round(rng.normal() * 1e4) / 100 : rng.normal() * 10 ** rng.uniformInt(30),
    );
    const wideIntegers = Float64Array.from({ length: 20_000 }, () => rng.uniformInt(1 << 30) * (rng.uniform() < 0.5 ? -1 : 1));
    // Mostly the minimum (a fraud share mostly 0), with both zeros, and a negative minimum on exactly half.
    const mostly = (min: number, share: number, other = () => rng.uniform()) =>
      Float64Array.from({ length: 20_000 }, (_, i) => (i % 1000 < share * 1000 ? min : other()));
    const mixedZeros = mostly(0, 0.9);
    mixedZeros[5_000] = -0; // after some values moved ahead
    const cases = [mixed, wideIntegers, mixed.subarray(5, 9_000), mostly(0, 0.9), mixedZeros, mostly(-3.5, 0.5, () => rng.normal())];
    for (const values of cases) {
      const expected = values.slice().sort();
      // A view at an offset into a larger buffer too, sorted in place (what a column of a wider table is).
      const inBuffer = new Float64Array(values.length + 7);
      inBuffer.set(values, 5);
      const view = inBuffer.subarray(5, 5 + values.length);
      for (const sorted of [sortValues(values.slice()), sortValues(values.slice(), new Float64Array(values.length)), sortValues(view)])
        assert.ok(
          sorted.every((v, i) => Object.is(v, expected[i])),
          'same values in the same order',
        );
    }
  });
});

describe('reference statistics', () => {
  it('round-trip through JSON and parseReferenceStatistics', () => {
    const parsed = parseReferenceStatistics(JSON.parse(JSON.stringify(reference)));
    assert.deepEqual(parsed, reference);
    assert.equal(parsed.features.length, FEATURE_NAMES.length);
  });

  it('rejects a malformed file, naming the path', () => {
    const broken = JSON.parse(JSON.stringify(reference));
    broken.features[2].bins.counts.pop();
    assert.throws(
      () => parseReferenceStatistics(broken, 'ref.json'),
      (err: Error) => {
        assert.ok(err instanceof InvalidInputError);
        assert.match(
          err.message,
          /^ref\.json is not a reference statistics file .*features\.2\.bins\.counts: has (\d+) entries, expected \d+/,
        );
        return true;
      },
    );
    assert.throws(() => parseReferenceStatistics({ kind: 'other' }), /kind/);
  });
});

describe('DataValidationError', () => {
  it('names the worst failures, caps the list and carries the report', () => {
    const report = run(
      mutated((r, i) => {
        r.TX_AMOUNT = (r.TX_AMOUNT as number) + 2 * amountStd;
        if (ampleBad(i)) r.TX_AMOUNT = -1;
        if (i === 5) r.TRANSACTION_ID = 4;
      }),
    );
    assert.ok(report.failures.length > 5);
    assert.throws(
      () => throwIfFailed(report, 's3://bucket/reports/x.html'),
      (err: Error) => {
        assert.ok(err instanceof DataValidationError);
        assert.equal(err.name, 'DataValidationError');
        assert.equal(err.report, report);
        assert.ok(err.message.startsWith(`data validation failed: ${report.failures[0]}; ${report.failures[1]}`));
        assert.match(err.message, new RegExp(`; and ${report.failures.length - 5} more \\(full report: s3://bucket/reports/x\\.html\\)$`));
        assert.match(report.failures[0], /drift/);
        return true;
      },
    );
    assert.doesNotThrow(() => throwIfFailed(baseline));
  });
});

describe('renderHtmlReport', () => {
  const hostile = '<img src=x onerror="alert(1)">';
  const report = run(
    mutated((r, i) => {
      r[hostile] = 1;
      if (ampleBad(i)) r.TX_AMOUNT = '</td><script>alert(2)</script>';
    }),
  );
  const html = renderHtmlReport(report);

  it('is self-contained: no script, no stylesheet link, no external URL', () => {
    assert.ok(html.startsWith('<!doctype html>'));
    assert.doesNotMatch(html, /<script|<link|@import|url\(/i);
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    assert.equal((html.match(/<svg /g) ?? []).length, FEATURE_NAMES.length);
    assert.match(html, /Data validation: FAIL/);
  });

  it('escapes field names and values from the data', () => {
    assert.ok(report.warnings.some((w) => w.includes(hostile)));
    assert.ok(!html.includes(hostile));
    assert.ok(html.includes('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'));
    assert.ok(!html.includes('<script>alert(2)'));
    const crafted: ValidationReport = { ...report, rules: [{ ...report.rules[0], field: '<b onclick=x>' }] };
    assert.ok(!renderHtmlReport(crafted).includes('<b onclick'));
  });

  it('overlays reference and current histograms', () => {
    assert.match(html, /reference \(n = [\d,]+\)/);
    assert.match(html, /current \(n = [\d,]+\)/);
    assert.match(html, /TX_AMOUNT \(PSI [\d.e-]+, JS [\d.e-]+, KS [\d.e-]+\)/);
  });
});

/** `fraudops validate` in process, with the given thresholds and contract instead of config.yaml's; returns what it printed. */
async function validateCli(args: string[], settings: ValidateSettings = { thresholds, contract }): Promise<{ out: string[] }> {
  const program = new Command('fraudops').exitOverride();
  program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerValidateCommands(program, () => settings);
  const out: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => out.push(parts.join(' '));
  try {
    await program.parseAsync(['validate', ...args], { from: 'user' });
  } finally {
    console.log = log;
  }
  return { out };
}

describe('fraudops validate', () => {
  const cli = (args: string[]) => validateCli(args);
  const directory = mkdtempSync(path.join(tmpdir(), 'fraudops-validate-'));
  after(() => rmSync(directory, { recursive: true, force: true }));
  const file = (name: string) => path.join(directory, name);
  writeFileSync(file('clean.csv'), CSV_HEADER + csvLines(clean));
  writeFileSync(file('other.csv'), CSV_HEADER + csvLines(other));
  const lines = csvLines(clean).split('\n');
  const broken = lines.map((line, i) => {
    const cells = line.split(',');
    if (line === '') return line;
    if (i % 50 === 1) cells[1] = 'yesterday'; // TX_DATETIME
    if (i % 50 === 2) cells[4] = ''; // TX_AMOUNT
    return cells.join(',');
  });
  writeFileSync(file('broken.csv'), CSV_HEADER + broken.join('\n'));
  const nowFlag = ['--now', new Date(now * 1000).toISOString()];

  it('passes a clean CSV and writes the JSON, HTML and reference files', async () => {
    const { out } = await cli([
      '--in',
      file('clean.csv'),
      ...nowFlag,
      '--out-json',
      file('report.json'),
      '--out-html',
      file('report.html'),
      '--write-reference',
      file('ref.json'),
    ]);
    assert.match(out[0], /^validate .*clean\.csv: PASS, [\d,]+ rows, [\d,]+ pass the record contract; labels required; no reference/);
    assert.equal(JSON.parse(readFileSync(file('report.json'), 'utf8')).status, 'pass');
    assert.ok(existsSync(file('report.html')));
    assert.deepEqual(parseReferenceStatistics(JSON.parse(readFileSync(file('ref.json'), 'utf8'))), reference);
  });

  it('compares another seed against the reference and passes; --json prints the report', async () => {
    const { out } = await cli(['--in', file('other.csv'), '--reference', file('ref.json'), ...nowFlag, '--json']);
    const report = JSON.parse(out.join('\n'));
    assert.equal(report.status, 'pass');
    assert.ok(report.features.every((f: { drift?: unknown }) => f.drift));
  });

  it('fails (DataValidationError) on broken cells, naming the declared field, the rule and the line', async () => {
    await assert.rejects(cli(['--in', file('broken.csv'), ...nowFlag, '--out-json', file('broken.json')]), (err: Error) => {
      assert.equal(err.name, 'DataValidationError');
      assert.match(
        err.message,
        /^data validation failed: .*TX_DATETIME must be a date and time 'YYYY-MM-DD HH:MM:SS' in UTC: \d+ rows, e\.g\. line 3 \(id 1\) TX_DATETIME = "yesterday"/,
      );
      return true;
    });
    const report: ValidationReport = JSON.parse(readFileSync(file('broken.json'), 'utf8'));
    assert.equal(report.status, 'fail');
    const wrongTime = report.rules.find((r) => r.field === 'TX_DATETIME');
    assert.deepEqual(wrongTime?.examples[0], { row: 1, line: 3, id: '1', value: 'yesterday' });
    assert.equal(report.rules.find((r) => r.field === 'TX_AMOUNT')?.rule, 'is required');
  });

  it('names a declared column missing from the header, with its key', async () => {
    writeFileSync(file('no-amount.csv'), 'TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_FRAUD\n1,2018-04-01 00:00:00,1,1,0\n');
    await assert.rejects(cli(['--in', file('no-amount.csv'), ...nowFlag]), /the header lacks "TX_AMOUNT" \(records\.amount\)/);
  });

  const badFlags: [string[], RegExp][] = [
    [['--in', 'clean.csv', '--labels', 'maybe'], /--labels.*maybe/],
    [['--in', 'clean.csv', '--now', 'yesterday'], /--now.*"yesterday" is not an ISO 8601 date/],
    [['--in', 'clean.csv', '--now', '2018-10-01T12:00:00'], /--now/],
    [['--in', 'missing.csv'], /--in.*missing\.csv is not a readable file/],
    [['--in', 'clean.csv', '--out-html', 'no-such-dir/x.html'], /--out-html.*does not exist/],
    [['--in', 'clean.csv', '--frobnicate'], /--frobnicate/],
  ];
  it('asks for exactly one input', async () => {
    await assert.rejects(cli([]), /exactly one of --in <file> or --dataset <sha256>/);
  });

  for (const [args, message] of badFlags) {
    it(`exits 2 on a bad flag: ${args.join(' ') || '(no --in)'}`, async () => {
      const resolved = args.map((a) => (a.endsWith('.csv') || a.endsWith('.html') ? file(a) : a));
      await assert.rejects(cli(resolved), (err: Error) => {
        assert.ok(err instanceof CommanderError, String(err));
        assert.equal(err.exitCode, 2);
        assert.match(err.message, message);
        return true;
      });
    });
  }

  it('--help explains every flag and exits 0', async () => {
    const program = new Command('fraudops').exitOverride();
    let help = '';
    program.configureOutput({ writeOut: (text) => (help += text) });
    registerValidateCommands(program, () => ({ thresholds, contract }));
    await assert.rejects(program.parseAsync(['validate', '--help'], { from: 'user' }), (err: Error) => {
      assert.ok(err instanceof CommanderError);
      assert.equal(err.exitCode, 0);
      return true;
    });
    for (const flag of ['--in', '--reference', '--labels', '--now', '--out-json', '--out-html', '--write-reference', '--json']) {
      assert.match(help, new RegExp(`${flag}( <[a-z]+>)? +\\w`), flag);
    }
    assert.match(help, /Exit 0: pass; 1: validation failed/);
  });
});

describe('fraudops validate with a declaration of another feed (string card numbers, epoch seconds, extra columns)', () => {
  const cards = new RecordContract(
    cardsDeclaration({
      columns: { category: 'categorical', city_pop: { kind: 'numeric', range: [0, 1e8] } },
      bounds: { amount: [0, 5000] },
      drop: ['first', 'last'],
    }),
  );
  const header = ['trans_num', 'unix_time', 'cc_num', 'merchant', 'amt', 'category', 'city_pop', 'first', 'last', 'is_fraud', 'note'];
  const quote = (text: string) => (/[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  const source = simulate({ customers: 300, terminals: 400, days: 21, seed: 21 });
  const rows = Array.from(source, (t) => ({
    trans_num: (0xa11ce000 + t.TRANSACTION_ID * 7919).toString(16),
    unix_time: String(Date.parse(`${t.TX_DATETIME.replace(' ', 'T')}Z`) / 1000),
    cc_num: String(4_000_000_000_000_000n + BigInt(t.CUSTOMER_ID) * 1_000_003n), // 16 digits: beyond 2^53
    merchant: `Shop ${t.TERMINAL_ID}, "Main St"`,
    amt: String(t.TX_AMOUNT),
    category: ['grocery', 'travel', 'online'][t.TRANSACTION_ID % 3],
    city_pop: String(1000 + t.CUSTOMER_ID * 10),
    first: 'Jane',
    last: 'Doe',
    is_fraud: t.TX_FRAUD ? 'true' : 'false',
    note: 'n/a',
  }));
  const cardsNow = Number(rows[rows.length - 1].unix_time) + 86_400;
  // One bad row per rule (each well within maxBadRowFraction: warnings), a duplicated id and a future time (failures).
  rows[5].amt = '6000';
  rows[6].cc_num = '';
  rows[7].unix_time = 'soon';
  rows[8].city_pop = '-5';
  rows[9].is_fraud = 'maybe';
  rows[11].trans_num = rows[10].trans_num;
  rows[rows.length - 1].unix_time = String(cardsNow + 3600);
  const directory = mkdtempSync(path.join(tmpdir(), 'fraudops-validate-cards-'));
  after(() => rmSync(directory, { recursive: true, force: true }));
  const csv = path.join(directory, 'cards.csv');
  const text = [header.join(','), ...rows.map((row) => header.map((name) => quote(row[name as keyof typeof row])).join(','))].join('\n');
  writeFileSync(csv, `${text}\n`);
  const json = path.join(directory, 'report.json');
  const html = path.join(directory, 'report.html');

  it('names each bad row by its line, its declared field and the rule, and the ids as strings', async () => {
    await assert.rejects(
      validateCli(['--in', csv, '--now', new Date(cardsNow * 1000).toISOString(), '--out-json', json, '--out-html', html], {
        thresholds,
        contract: cards,
      }),
      (err: Error) => err.name === 'DataValidationError',
    );
    const report: ValidationReport = JSON.parse(readFileSync(json, 'utf8'));
    const id = (i: number) => rows[i].trans_num;
    assert.equal(report.labels, 'required', 'the header has the declared label column');
    assert.deepEqual(report.fields, { id: 'trans_num', time: 'unix_time', amount: 'amt' });
    assert.equal(report.rows.total, rows.length);
    assert.equal(report.rows.bad, 5);
    const expected = [
      `amt must be a number in [0, 5000] (records.bounds.amount): 1 row, e.g. line 7 (id ${id(5)}) amt = "6000"`,
      `cc_num is required: 1 row, e.g. line 8 (id ${id(6)}) cc_num = ""`,
      `unix_time must be seconds since 1970-01-01T00:00:00Z (a number or a numeric string): 1 row, e.g. line 9 (id ${id(7)}) unix_time = "soon"`,
      `city_pop must be a number in [0, 100000000] (records.columns.city_pop): 1 row, e.g. line 10 (id ${id(8)}) city_pop = "-5"`,
      `is_fraud must be 0 or 1 (or false / true): 1 row, e.g. line 11 (id ${id(9)}) is_fraud = "maybe"`,
      'fields outside the records: declaration are ignored: note',
    ];
    for (const warning of expected)
      assert.ok(report.warnings.includes(warning), `no warning "${warning}" in:\n${report.warnings.join('\n')}`);
    assert.ok(
      report.failures.includes(`trans_num duplicated: 1 id on 2 rows, e.g. id ${id(10)} at rows 10, 11`),
      report.failures.join('\n'),
    );
    assert.ok(
      report.failures.some(
        (f) =>
          f.startsWith(`unix_time in the future: 1 row after `) &&
          f.endsWith(`(id ${id(rows.length - 1)}) unix_time = "${cardsNow + 3600}"`),
      ),
      report.failures.join('\n'),
    );
    assert.ok(report.columns.amt.count === rows.length, 'raw amounts of every row');
    const page = readFileSync(html, 'utf8');
    assert.ok(page.includes('duplicated trans_num') && page.includes('unix_time in the future'));
    assert.ok(!page.includes('Jane') && !readFileSync(json, 'utf8').includes('Jane'), 'a dropped column is never read');
  });

  it('passes the same feed without the broken rows, computing the 15 features from the declared roles', async () => {
    const good = [
      header.join(','),
      ...rows.slice(12, -1).map((row) => header.map((name) => quote(row[name as keyof typeof row])).join(',')),
    ];
    const file = path.join(directory, 'good.csv');
    writeFileSync(file, `${good.join('\n')}\n`);
    const { out } = await validateCli(['--in', file, '--now', new Date(cardsNow * 1000).toISOString(), '--json'], {
      thresholds,
      contract: cards,
    });
    const report: ValidationReport = JSON.parse(out.join('\n'));
    assert.equal(report.status, 'pass', report.failures.join('\n'));
    assert.equal(report.rows.valid, rows.length - 13);
    const risk = report.features.find((f) => f.name === 'TERMINAL_ID_RISK_7DAY_WINDOW');
    assert.ok(risk?.checked && (risk.stats.summary?.max ?? 0) > 0, 'labels (true/false) reach the terminal risk');
  });
});
