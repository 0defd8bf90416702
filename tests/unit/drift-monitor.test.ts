// The stream scorer's drift gauges: rolling PSI of live features against a reference made by the validation code.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { computeFeatures, FEATURE_COUNT, FEATURE_NAMES } from '../../ml/features';
import { parseReferenceStatistics, populationStabilityIndex, referenceStatistics, validateRecords } from '../../ml/validation';
import { binCounts, sortValues } from '../../ml/validation/stats';
import { HANDBOOK_DECLARATION, RecordContract, type TxRecord } from '../../records';
import { featureInputOf } from '../../serving/online-features';
import { simulate } from '../../simulator';
import { binOf, DriftMonitor } from '../../stream/drift';

const dataset = simulate({ customers: 300, terminals: 400, days: 20, seed: 9 });
const rows: TxRecord[] = [...dataset.records()];
const now = rows[rows.length - 1].time + 86_400;
const thresholds = { maxFutureSeconds: 300, maxBadRowFraction: 0.001, drift: { psi: 0.2, jensenShannon: 0.1, kolmogorovSmirnov: 0.1 } };
const contract = new RecordContract(HANDBOOK_DECLARATION);
// As the training pipeline does: the reference of the training data, shipped in the bundle as JSON.
const reference = parseReferenceStatistics(
  JSON.parse(JSON.stringify(referenceStatistics(validateRecords(rows, { contract, now, thresholds, labels: 'required' })))),
);
const features = computeFeatures(rows.map((record) => ({ ...featureInputOf(record), fraud: record.label ?? 0 })));

function monitor(window: number) {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const registry = new Registry();
  return { drift: new DriftMonitor(registry, log, window), registry, lines };
}

/** PSI of the last `window` rows of a feature column, computed in one go with the validation code. */
function expectedPsi(matrix: Float64Array, feature: string, window: number): number {
  const column = FEATURE_NAMES.indexOf(feature as (typeof FEATURE_NAMES)[number]);
  const rowsIn = matrix.length / FEATURE_COUNT;
  const values = Float64Array.from({ length: Math.min(window, rowsIn) }, (_, i) => matrix[(rowsIn - 1 - i) * FEATURE_COUNT + column]);
  const ref = reference.features.find((f) => f.name === feature);
  assert.ok(ref);
  return populationStabilityIndex(ref.bins.counts, binCounts(sortValues(values), ref.bins.cuts));
}

/** The rows with TX_AMOUNT multiplied by `factor`. */
function scaledAmounts(matrix: Float64Array, factor: number): Float64Array {
  const out = Float64Array.from(matrix);
  for (let i = 0; i < out.length; i += FEATURE_COUNT) out[i] *= factor;
  return out;
}

describe('drift monitor', () => {
  it('bins values as the validation code does (right-closed bins, values on a cut included)', () => {
    const cuts = [1, 2.5, 4];
    for (const value of [-10, 1, 1.0001, 2.5, 3, 4, 4.5, 100]) {
      const counts = binCounts(Float64Array.of(value), cuts);
      assert.equal(binOf(cuts, value), counts.indexOf(1), `value ${value}`);
    }
  });

  it('on the training data itself, every PSI is small and equals the PSI of the same rows computed at once', () => {
    const { drift } = monitor(features.length);
    drift.setReference('7', reference);
    drift.observe(features, features.length / FEATURE_COUNT);
    const psi = drift.psi();
    assert.deepEqual([...psi.keys()].sort(), reference.features.map((f) => f.name).sort());
    assert.ok(psi.size >= 12, `${psi.size} features monitored`);
    for (const [feature, value] of psi) {
      assert.ok(value < 0.01, `${feature}: PSI ${value}`);
      assert.ok(Math.abs(value - expectedPsi(features, feature, features.length)) < 1e-12, feature);
    }
  });

  it('rises for a shifted feature, only for the rows in the window, and falls back as normal rows replace them', async () => {
    const window = 2000;
    const { drift, registry } = monitor(window);
    drift.setReference('7', reference);
    const n = features.length / FEATURE_COUNT;
    const half = Math.floor(n / 2) * FEATURE_COUNT;
    const shifted = scaledAmounts(features.subarray(0, half), 3);
    drift.observe(shifted, half / FEATURE_COUNT);
    const high = drift.psi().get('TX_AMOUNT') ?? 0;
    assert.ok(high > 0.2, `shifted amounts: PSI ${high}`);
    assert.ok(Math.abs(high - expectedPsi(shifted, 'TX_AMOUNT', window)) < 1e-12);
    assert.ok((drift.psi().get('TX_DURING_NIGHT') ?? 1) < 0.05, 'an unshifted feature stays low');

    const rest = features.subarray(half);
    drift.observe(rest, rest.length / FEATURE_COUNT);
    const low = drift.psi().get('TX_AMOUNT') ?? 1;
    assert.ok(low < 0.05, `after ${window} normal rows: PSI ${low}`);
    assert.ok(Math.abs(low - expectedPsi(rest, 'TX_AMOUNT', window)) < 1e-12);

    const text = await registry.metrics();
    assert.match(text, /fraudops_feature_psi\{feature="TX_AMOUNT"\} \d/);
    assert.match(text, new RegExp(`fraudops_feature_drift_window_rows ${window}`));
  });

  it('calls drift severe only past the limit and only once the window is full', () => {
    const window = 2000;
    const { drift } = monitor(window);
    drift.setReference('7', reference);
    // The last rows: the first ones are the simulation's warm-up, whose 30-day counts drift from the whole.
    const shifted = scaledAmounts(features.subarray(features.length - window * FEATURE_COUNT), 3);
    drift.observe(shifted, window - 1);
    assert.equal(drift.severe(0.5), undefined, 'a window short of one row proves nothing');
    drift.observe(shifted.subarray((window - 1) * FEATURE_COUNT), 1);
    const severe = drift.severe(0.5);
    const psi = drift.psi();
    assert.ok(severe && severe.psi > 0.5 && severe.psi === Math.max(...psi.values()), 'the worst feature');
    assert.ok((psi.get('TX_AMOUNT') ?? 0) > 0.5, 'amounts three times as large');
    assert.equal(drift.severe(severe.psi), undefined, 'not above its own value');
    const { drift: calm } = monitor(window);
    calm.setReference('7', reference);
    calm.observe(features.subarray(features.length - window * FEATURE_COUNT), window);
    assert.ok((calm.psi().get('TX_AMOUNT') ?? 1) < 0.05);
    assert.equal(calm.severe(Math.max(...calm.psi().values())), undefined);
  });

  it('without reference statistics exports no PSI and says so once per model version', async () => {
    const { drift, registry, lines } = monitor(100);
    drift.setReference('7', reference);
    drift.observe(features.subarray(0, 100 * FEATURE_COUNT), 100);
    assert.ok(drift.psi().size > 0);
    drift.setReference('8', undefined);
    drift.observe(features.subarray(0, 100 * FEATURE_COUNT), 100);
    drift.setReference('8', undefined);
    assert.equal(drift.psi().size, 0);
    assert.doesNotMatch(await registry.metrics(), /fraudops_feature_psi\{/);
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => /reference\.json/.test(l.msg));
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].modelVersion, '8');
  });
});
