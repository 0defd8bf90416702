// The DP accountants against dp-accounting 0.6 and Opacus 1.6 (fixture from tools/reference/privacy_reference.py).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../ml/errors';
import {
  composedRdp,
  DEFAULT_RDP_ORDERS,
  epsilon,
  noiseMultiplierFor,
  OPACUS_RDP_ORDERS,
  pldEpsilon,
  rdpEpsilon,
  rdpToEpsilon,
} from '../../ml/privacy';
import { fft } from '../../ml/privacy/fft';
import { normCdf, normLogCdf, normPpf } from '../../ml/privacy/special';

interface RdpRef {
  orders: number[];
  rdp: (number | null)[];
  epsilon: number;
  optimal_order: number;
}
interface Case {
  sampling_rate: number;
  noise_multiplier: number;
  steps: number;
  delta: number;
  dp_accounting_rdp: RdpRef;
  opacus_rdp: RdpRef;
  dp_accounting_pld: { epsilon: number; value_discretization_interval: number };
  dp_accounting_pld_fine: { epsilon: number; value_discretization_interval: number } | null;
  opacus_prv: { epsilon_lower: number; epsilon: number; epsilon_upper: number } | { error: string };
}
interface Fixture {
  cases: Case[];
  calibrations: {
    sampling_rate: number;
    steps: number;
    delta: number;
    target_epsilon: number;
    rdp_noise_multiplier: number;
    pld_noise_multiplier: number;
  }[];
  special: { x: number[]; log_ndtr: number[]; ndtr: number[]; ndtri_p: number[]; ndtri: number[] };
}

const fixture: Fixture = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'privacy', 'accounting-reference.json'), 'utf8'));
const params = (c: Case) => ({ samplingRate: c.sampling_rate, noiseMultiplier: c.noise_multiplier, steps: c.steps, delta: c.delta });
const label = (c: Case) => `q=${c.sampling_rate} σ=${c.noise_multiplier} T=${c.steps} δ=${c.delta}`;
const relative = (ours: number, ref: number) => (ours === ref ? 0 : Math.abs(ours - ref) / Math.abs(ref));
/** null in the fixture is +∞ (JSON has no infinity). */
const value = (x: number | null) => x ?? Number.POSITIVE_INFINITY;

describe('special functions against scipy', () => {
  it('log Φ, Φ and Φ⁻¹ agree to ~1e-14 relative (more far in the tails)', () => {
    const s = fixture.special;
    s.x.forEach((x, i) => {
      // Rounding x/√2 alone moves Φ(x) by ~x²·1e-16 relative, in scipy as here.
      const tolerance = 1e-15 * (20 + x * x);
      assert.ok(relative(normLogCdf(x), s.log_ndtr[i]) < tolerance, `log_ndtr(${x}): ${normLogCdf(x)} vs ${s.log_ndtr[i]}`);
      assert.ok(relative(normCdf(x), s.ndtr[i]) < tolerance, `ndtr(${x}): ${normCdf(x)} vs ${s.ndtr[i]}`);
    });
    s.ndtri_p.forEach((p, i) => {
      assert.ok(Math.abs(normPpf(p) - s.ndtri[i]) < 1e-12, `ndtri(${p})`);
    });
  });
});

describe('fft', () => {
  it('matches a direct DFT and inverts', () => {
    const n = 64;
    const re = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) + (i % 5));
    const im = Float64Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
    const [r0, i0] = [re.slice(), im.slice()];
    fft(re, im);
    for (const k of [0, 1, 17, 63]) {
      let sr = 0;
      let si = 0;
      for (let j = 0; j < n; j++) {
        const a = (-2 * Math.PI * j * k) / n;
        sr += r0[j] * Math.cos(a) - i0[j] * Math.sin(a);
        si += r0[j] * Math.sin(a) + i0[j] * Math.cos(a);
      }
      assert.ok(Math.abs(re[k] - sr) < 1e-11 && Math.abs(im[k] - si) < 1e-11, `bin ${k}`);
    }
    fft(re, im, true);
    for (let j = 0; j < n; j++) assert.ok(Math.abs(re[j] / n - r0[j]) < 1e-12 && Math.abs(im[j] / n - i0[j]) < 1e-12);
  });
});

describe('RDP accountant', () => {
  it(`RDP per order matches dp-accounting within 1e-6 relative (${fixture.cases.length} cases)`, () => {
    assert.ok(fixture.cases.length >= 20);
    let worst = 0;
    for (const c of fixture.cases) {
      const ref = c.dp_accounting_rdp;
      assert.deepEqual(ref.orders, [...DEFAULT_RDP_ORDERS]);
      const ours = composedRdp(params(c), ref.orders);
      ref.rdp.forEach((r, k) => {
        const expected = value(r);
        if (!Number.isFinite(expected)) assert.equal(ours[k], expected, `${label(c)} order ${ref.orders[k]}`);
        else {
          const err = relative(ours[k], expected);
          worst = Math.max(worst, err);
          assert.ok(err <= 1e-6, `${label(c)} order ${ref.orders[k]}: ${ours[k]} vs ${expected}`);
        }
      });
    }
    console.log(`max relative RDP error vs dp-accounting: ${worst.toExponential(2)}`);
  });

  it('RDP matches Opacus at integer orders, and at fractional orders where the two libraries agree', () => {
    let worst = 0;
    let compared = 0;
    for (const c of fixture.cases) {
      const ref = c.opacus_rdp;
      assert.deepEqual(ref.orders, [...OPACUS_RDP_ORDERS]);
      const ours = composedRdp(params(c), ref.orders);
      const dp = new Map(c.dp_accounting_rdp.orders.map((o, k) => [o, value(c.dp_accounting_rdp.rdp[k])]));
      ref.orders.forEach((order, k) => {
        const expected = value(ref.rdp[k]);
        // dp-accounting sums |terms| of the fractional-order series (an upper bound) where Opacus subtracts; we follow
        // dp-accounting, so fractional orders are compared only where the two references coincide.
        if (!Number.isInteger(order) && relative(dp.get(order) as number, expected) > 1e-9) return;
        const err = relative(ours[k], expected);
        worst = Math.max(worst, err);
        compared++;
        assert.ok(err <= 1e-6, `${label(c)} order ${order}: ${ours[k]} vs Opacus ${expected}`);
      });
    }
    assert.ok(compared > fixture.cases.length * 60);
    console.log(`max relative RDP error vs Opacus (${compared} values): ${worst.toExponential(2)}`);
  });

  it('ε and the optimal order match dp-accounting (Balle et al. 2020 conversion)', () => {
    for (const c of fixture.cases) {
      const ours = rdpEpsilon(params(c));
      assert.ok(
        relative(ours.epsilon, c.dp_accounting_rdp.epsilon) <= 1e-6,
        `${label(c)}: ${ours.epsilon} vs ${c.dp_accounting_rdp.epsilon}`,
      );
      assert.equal(ours.order, c.dp_accounting_rdp.optimal_order, label(c));
    }
  });

  it("ε over Opacus' orders matches Opacus' get_privacy_spent where both libraries agree at its optimal order", () => {
    let compared = 0;
    for (const c of fixture.cases) {
      const ref = c.opacus_rdp;
      // Our RDP is >= Opacus' at every order (equal at integer ones), so where it is equal at Opacus' optimal order the
      // minima coincide. Opacus does not clip ε at 0, so ε <= 0 cases are skipped.
      const k = c.dp_accounting_rdp.orders.indexOf(ref.optimal_order);
      const atOptimum = relative(value(c.dp_accounting_rdp.rdp[k]), value(ref.rdp[ref.orders.indexOf(ref.optimal_order)]));
      if (atOptimum > 1e-9 || !(ref.epsilon > 0)) continue;
      const ours = rdpEpsilon({ ...params(c), orders: OPACUS_RDP_ORDERS });
      assert.ok(relative(ours.epsilon, ref.epsilon) <= 1e-6, `${label(c)}: ${ours.epsilon} vs Opacus ${ref.epsilon}`);
      compared++;
    }
    assert.ok(compared >= 10, `only ${compared} cases had an integer optimal order`);
  });

  it('q = 1 is the plain Gaussian mechanism: RDP α·T/(2σ²)', () => {
    const rdp = composedRdp({ samplingRate: 1, noiseMultiplier: 0.5, steps: 3 }, [2, 7.5]);
    assert.deepEqual(rdp, [(2 * 3) / 0.5, (7.5 * 3) / 0.5]);
  });

  it('the conversion is 0 when δ exceeds the KL bound and +∞ for infinite RDP', () => {
    assert.equal(rdpToEpsilon([2, 3], [1e-12, 1e-12], 1e-3).epsilon, 0);
    assert.equal(rdpToEpsilon([2, 3], [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY], 1e-5).epsilon, Number.POSITIVE_INFINITY);
  });
});

describe('PLD accountant', () => {
  it(`ε matches dp-accounting's PLDAccountant within 1e-3 absolute (${fixture.cases.length} cases + finer grids)`, () => {
    let worst = 0;
    for (const c of fixture.cases) {
      for (const ref of [c.dp_accounting_pld, c.dp_accounting_pld_fine]) {
        if (!ref) continue;
        const ours = pldEpsilon({ ...params(c), valueDiscretizationInterval: ref.value_discretization_interval }).epsilon;
        const err = Math.abs(ours - ref.epsilon);
        worst = Math.max(worst, err);
        assert.ok(err <= 1e-3, `${label(c)} Δ=${ref.value_discretization_interval}: ${ours} vs ${ref.epsilon}`);
      }
    }
    console.log(`max absolute PLD ε error vs dp-accounting: ${worst.toExponential(2)}`);
  });

  it("is pessimistic: at least Opacus' PRV lower bound, at most the RDP ε", () => {
    for (const c of fixture.cases) {
      const ours = pldEpsilon(params(c)).epsilon;
      assert.ok(ours <= c.dp_accounting_rdp.epsilon + 1e-9, `${label(c)}: PLD ${ours} above RDP ${c.dp_accounting_rdp.epsilon}`);
      if ('epsilon_lower' in c.opacus_prv) {
        assert.ok(
          ours >= c.opacus_prv.epsilon_lower - 1e-3,
          `${label(c)}: PLD ${ours} below PRV lower bound ${c.opacus_prv.epsilon_lower}`,
        );
      }
    }
  });

  it('a finer grid is at least as tight at T = 1e6', () => {
    const p = { samplingRate: 1e-4, noiseMultiplier: 1, steps: 1_000_000, delta: 1e-6 };
    const coarse = pldEpsilon(p).epsilon;
    const fine = pldEpsilon({ ...p, valueDiscretizationInterval: 1e-5 }).epsilon;
    assert.ok(fine < coarse, `${fine} vs ${coarse}`);
  });
});

describe('noise multiplier for a target ε', () => {
  for (const accountant of ['rdp', 'pld'] as const) {
    it(`${accountant}: reaches the target and agrees with dp-accounting's calibration`, () => {
      for (const c of fixture.calibrations) {
        if (accountant === 'pld' && c.steps > 100_000) continue; // keeps the file fast; T = 1e6 is covered by the CLI bench
        const p = { samplingRate: c.sampling_rate, steps: c.steps, delta: c.delta, targetEpsilon: c.target_epsilon };
        const found = noiseMultiplierFor({ ...p, accountant });
        const ref = accountant === 'rdp' ? c.rdp_noise_multiplier : c.pld_noise_multiplier;
        assert.ok(found.epsilon <= c.target_epsilon, `ε ${found.epsilon} above target`);
        assert.ok(relative(found.noiseMultiplier, ref) < 1e-3, `σ ${found.noiseMultiplier} vs dp-accounting ${ref}`);
        const below = epsilon({ ...p, noiseMultiplier: found.noiseMultiplier * (1 - 1e-3) }, accountant).epsilon;
        assert.ok(below > c.target_epsilon, 'a 0.1% smaller σ should miss the target');
      }
    });
  }
});

describe('input validation', () => {
  const ok = { samplingRate: 0.01, noiseMultiplier: 1, steps: 10, delta: 1e-5 };
  const bad: [string, Record<string, number>, RegExp][] = [
    ['samplingRate 0', { samplingRate: 0 }, /samplingRate must be a number in \(0, 1\]/],
    ['samplingRate > 1', { samplingRate: 1.5 }, /samplingRate/],
    ['noiseMultiplier 0', { noiseMultiplier: 0 }, /noiseMultiplier must be a finite number > 0/],
    ['fractional steps', { steps: 2.5 }, /steps must be a whole number >= 1/],
    ['steps 0', { steps: 0 }, /steps/],
    ['delta 1', { delta: 1 }, /delta must be a number in \(0, 1\)/],
    ['delta 0', { delta: 0 }, /delta/],
  ];
  for (const [name, change, message] of bad) {
    it(`rejects ${name} in both accountants`, () => {
      for (const accountant of ['rdp', 'pld'] as const) {
        assert.throws(
          () => epsilon({ ...ok, ...change }, accountant),
          (e: Error) => e instanceof InvalidInputError && message.test(e.message),
        );
      }
    });
  }
  it('rejects a non-positive target ε', () => {
    assert.throws(
      () => noiseMultiplierFor({ samplingRate: 0.01, steps: 10, delta: 1e-5, targetEpsilon: 0 }),
      /targetEpsilon must be a finite number > 0/,
    );
  });
});
