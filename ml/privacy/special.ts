// Log-space arithmetic and the normal distribution, accurate far into the tails (the accountants need
// log Φ(x) for x down to about -40 and Φ to full double precision for the PLD's second differences).

const SQRT2 = Math.SQRT2;
const ONE_OVER_SQRT_PI = 1 / Math.sqrt(Math.PI);
const LOG_HALF = Math.log(0.5);

/** log(e^a + e^b) without overflow; -Infinity stands for 0. */
export function logAddExp(a: number, b: number): number {
  const hi = Math.max(a, b);
  const lo = Math.min(a, b);
  if (lo === Number.NEGATIVE_INFINITY) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/** log(a·e^b + c) for a > 0, a·e^b + c > 0 (dp-accounting's log_a_times_exp_b_plus_c). */
export function logATimesExpBPlusC(a: number, b: number, c: number): number {
  if (b === 0) return Math.log(a + c);
  const d = b + Math.log(a);
  if (c === 0) return d;
  if (c < 0) return d + Math.log1p(-Math.exp(Math.log(-c) - d));
  return logAddExp(d, Math.log(c));
}

// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969) 631-637
// (netlib SPECFUN CALERF): erf on [0, 0.46875], erfcx = e^{x²}·erfc(x) on (0.46875, 4] and (4, ∞).
const A = [3.1611237438705655, 113.86415415105016, 377.485237685302, 3209.3775891384694, 0.18577770618460315];
const B = [23.601290952344122, 244.02463793444417, 1282.6165260773723, 2844.236833439171];
const C = [
  0.5641884969886701, 8.883149794388377, 66.11919063714163, 298.6351381974001, 881.952221241769, 1712.0476126340707, 2051.0783778260716,
  1230.3393547979972, 2.1531153547440383e-8,
];
const D = [
  15.744926110709835, 117.6939508913125, 537.1811018620099, 1621.3895745666903, 3290.7992357334597, 4362.619090143247, 3439.3676741437216,
  1230.3393548037495,
];
const P = [
  0.30532663496123236, 0.36034489994980445, 0.12578172611122926, 0.016083785148742275, 0.0006587491615298378, 0.016315387137302097,
];
const Q = [2.568520192289822, 1.8729528499234604, 0.5279051029514285, 0.06051834131244132, 0.0023352049762686918];
const ERF_BREAK = 0.46875;

/** erf(x) for |x| <= 0.46875. */
function erfSmall(x: number): number {
  const z = x * x;
  let num = A[4] * z;
  let den = z;
  for (let i = 0; i < 3; i++) {
    num = (num + A[i]) * z;
    den = (den + B[i]) * z;
  }
  return (x * (num + A[3])) / (den + B[3]);
}

/** e^{x²}·erfc(x) for x > 0.46875. */
function erfcxLarge(x: number): number {
  if (x <= 4) {
    let num = C[8] * x;
    let den = x;
    for (let i = 0; i < 7; i++) {
      num = (num + C[i]) * x;
      den = (den + D[i]) * x;
    }
    return (num + C[7]) / (den + D[7]);
  }
  if (x >= 6.71e7) return ONE_OVER_SQRT_PI / x;
  const z = 1 / (x * x);
  let num = P[5] * z;
  let den = z;
  for (let i = 0; i < 4; i++) {
    num = (num + P[i]) * z;
    den = (den + Q[i]) * z;
  }
  return (ONE_OVER_SQRT_PI - (z * (num + P[4])) / (den + Q[4])) / x;
}

/** e^{-x²} for x >= 0, splitting x² so the exponent keeps its low bits (as CALERF does). */
function expMinusSquare(x: number): number {
  const head = Math.trunc(x * 16) / 16;
  return Math.exp(-head * head) * Math.exp(-(x - head) * (x + head));
}

/** Complementary error function, relative accuracy ~1e-15 over the whole line. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const y = Math.abs(x);
  const upper = y <= ERF_BREAK ? 1 - erfSmall(y) : y > 27.3 ? 0 : erfcxLarge(y) * expMinusSquare(y);
  return x < 0 ? 2 - upper : upper;
}

/** log erfc(x), finite for every finite x. */
export function logErfc(x: number): number {
  if (x <= ERF_BREAK) return Math.log(erfc(x));
  return -x * x + Math.log(erfcxLarge(x));
}

/** Φ(x), the standard normal CDF. */
export function normCdf(x: number): number {
  return 0.5 * erfc(-x / SQRT2);
}

/** log Φ(x) (scipy's log_ndtr). */
export function normLogCdf(x: number): number {
  if (x > 0) return Math.log1p(-0.5 * erfc(x / SQRT2));
  return LOG_HALF + logErfc(-x / SQRT2);
}

/** Φ⁻¹(p) for 0 < p < 1, by bisection on log Φ (used only to place truncation points; ~1e-15 absolute). */
export function normPpf(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normPpf needs 0 < p < 1; got ${p}`);
  if (p > 0.5) return -normPpf(1 - p);
  const target = Math.log(p);
  let lo = -40;
  let hi = 0;
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = 0.5 * (lo + hi);
    if (normLogCdf(mid) < target) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}
