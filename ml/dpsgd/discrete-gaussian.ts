// Exact sampling of the discrete Gaussian N_Z(0, σ²) — P[X = x] ∝ exp(−x²/(2σ²)) on the integers, σ² rational — from
// the uniform 32-bit words of a CryptoStream, by Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential
// Privacy" (NeurIPS 2020), Algorithms 1–3: Bernoulli(exp(−γ)) for rational γ, the discrete Laplace by rejection, and
// the discrete Gaussian by rejection from the discrete Laplace. Every decision compares whole numbers, so the outputs
// follow the stated law exactly (given uniform words), with no floating-point rounding for an attacker to read.
// Arithmetic is on Numbers where every value is provably below 2⁵³ (the bounds are noted at each step), BigInt
// otherwise.
import type { CryptoStream } from './csprng';

const TWO_POW_32 = 4294967296;
/** |a| below this keeps a² below 2⁵², so a²/D splits exactly in Numbers. */
const SQUARE_SAFE = 67108864; // 2²⁶
/** The largest denominator 2σ²·… of the rejection exponent: 2⁵³/D then leaves ≥ 2¹⁰ words per class. */
const MAX_EXPONENT_DENOMINATOR = 2 ** 43;
/** Denominators up to this take the one-word coin (r·2¹⁶ and the remainders·2¹⁶ stay below 2⁵³). */
const LAZY_MAX = 2 ** 37;
/** The largest whole σ accepted (2σ² ≤ 2⁴³). */
export const MAX_SIGMA = 2 ** 21;

/** floor(2³² / k) for the coins Bernoulli(1/k) of small k. */
const RECIPROCAL_QUOTIENTS = Float64Array.from({ length: 64 }, (_, k) => (k === 0 ? 0 : Math.floor(TWO_POW_32 / k)));

/** floor(2⁵³ / n) exactly (float division can be one too high when 2⁵³/n is just below a whole number). */
function quotientOf2Pow53(n: number): number {
  return Number((1n << 53n) / BigInt(n));
}

/** [⌊a/n⌋, a mod n] for whole 0 ≤ a < 2⁵³ and 1 ≤ n: the float quotient can be one off, the remainder says which way. */
function divide(a: number, n: number): [number, number] {
  let q = Math.floor(a / n);
  let r = a - q * n;
  if (r < 0) {
    q--;
    r += n;
  } else if (r >= n) {
    q++;
    r -= n;
  }
  return [q, r];
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The smallest whole t with t² ≥ p/q (t = σ when σ is whole, else ⌊σ⌋ + 1), exactly. */
function ceilSqrt(p: number, q: number): number {
  let t = Math.max(1, Math.ceil(Math.sqrt(p / q)));
  while (BigInt(t - 1) ** 2n * BigInt(q) >= BigInt(p) && t > 1) t--;
  while (BigInt(t) ** 2n * BigInt(q) < BigInt(p)) t++;
  return t;
}

/** Bernoulli coins from uniform words: exact rationals, exp(−rational) by CKS Algorithm 1. */
export class ExactCoins {
  private bits = 0;
  private bitsLeft = 0;

  constructor(protected readonly stream: CryptoStream) {}

  /** Drops the unused bits of the current word (so a vector's draws start on a word boundary). */
  protected alignToWord(): void {
    this.bitsLeft = 0;
  }

  protected bit(): number {
    if (this.bitsLeft === 0) {
      this.bits = this.stream.uint32();
      this.bitsLeft = 32;
    }
    this.bitsLeft--;
    return (this.bits >>> this.bitsLeft) & 1;
  }

  /** True with probability exactly r/n, for whole 0 ≤ r and 1 ≤ n ≤ 2³². */
  bernoulli(r: number, n: number): boolean {
    if (r >= n) return true;
    if (r <= 0) return false;
    if (n === 2) return this.bit() === 1;
    // k = ⌊2³²/n⌋ exactly: 2³²/n is never within 2⁻²¹/n of a whole number, far more than float division's error.
    const k = n < 64 ? RECIPROCAL_QUOTIENTS[n] : Math.floor(TWO_POW_32 / n);
    const limit = k * n; // ≤ 2³²: the words below it fall evenly into n classes of k
    for (;;) {
      const word = this.stream.uint32();
      if (word < limit) return word < r * k;
    }
  }

  /** True with probability exactly r/n for whole 0 ≤ r and 1 ≤ n ≤ 2⁵³, with k = quotientOf2Pow53(n). */
  protected bernoulli53(r: number, n: number, k: number): boolean {
    if (r <= 0) return false;
    if (r >= n) return true;
    if (n <= LAZY_MAX) {
      // One word w against c = ⌊r·2³²/n⌋, by long division in 16-bit steps (each product < 2⁵³): w < c is a hit, w > c
      // a miss, and the tie (probability 2⁻³²) is a hit with probability (r·2³² mod n)/n. In all, exactly r/n.
      const [high, rest] = divide(r * 65536, n);
      const [low, last] = divide(rest * 65536, n);
      const c = high * 65536 + low;
      const word = this.stream.uint32();
      if (word !== c) return word < c;
      return this.bernoulli53(last, n, k);
    }
    const limit = k * n; // ≤ 2⁵³, exactly representable
    for (;;) {
      const word = this.stream.uint53();
      if (word < limit) return word < r * k;
    }
  }

  /** True with probability exp(−1) (CKS Algorithm 1 with γ = 1, whose first coin Bernoulli(γ/1) is certain). */
  bernoulliExpMinusOne(): boolean {
    if (this.bit() === 0) return false; // the second coin, Bernoulli(1/2)
    let k = 3;
    while (this.bernoulli(1, k)) k++;
    return (k & 1) === 1;
  }

  /** True with probability exp(−num/den) for whole num ≥ 0 and 1 ≤ den ≤ 2⁵³ (num, den below 2⁵³). */
  bernoulliExp(num: number, den: number): boolean {
    const whole = Math.floor(num / den);
    let r = num - whole * den;
    let coins = whole;
    if (r < 0) {
      coins--;
      r += den;
    } else if (r >= den) {
      coins++;
      r -= den;
    }
    return this.bernoulliExpSplit(coins, r, den, quotientOf2Pow53(den));
  }

  /**
   * True with probability exp(−(whole + r/den)), 0 ≤ r < den ≤ 2⁵³, k = quotientOf2Pow53(den): `whole` coins of
   * exp(−1), then CKS Algorithm 1 on r/den, whose i-th coin Bernoulli(r/(den·i)) is Bernoulli(1/i)·Bernoulli(r/den).
   */
  protected bernoulliExpSplit(whole: number | bigint, r: number, den: number, k: number): boolean {
    if (typeof whole === 'bigint') {
      for (let i = 0n; i < whole; i++) if (!this.bernoulliExpMinusOne()) return false;
    } else {
      for (let i = 0; i < whole; i++) if (!this.bernoulliExpMinusOne()) return false;
    }
    let i = 1;
    while ((i === 1 || this.bernoulli(1, i)) && this.bernoulli53(r, den, k)) i++;
    return (i & 1) === 1;
  }

  /** True with probability exp(−u/t) for whole 0 ≤ u ≤ t ≤ 2³²: CKS Algorithm 1, i-th coin Bernoulli(u/(t·i)). */
  protected bernoulliExpFraction(u: number, t: number): boolean {
    let i = 1;
    // t·i ≤ 2³² keeps one word per coin; past that the coin is Bernoulli(1/i)·Bernoulli(u/t).
    while (t * i <= TWO_POW_32 ? this.bernoulli(u, t * i) : this.bernoulli(1, i) && this.bernoulli(u, t)) i++;
    return (i & 1) === 1;
  }
}

export class DiscreteGaussian extends ExactCoins {
  /** t: the Laplace scale, ⌈σ⌉. */
  readonly scale: number;
  private readonly scaleQuotient: number;
  /** The rejection exponent is (|Y|·slope − offset)²/den (CKS's (|Y| − σ²/t)²/(2σ²), over common factors). */
  private readonly slope: number;
  private readonly offset: number;
  private readonly den: number;
  private readonly denQuotient: number;

  /** N_Z(0, σ²) with σ² = numerator/denominator (whole numbers; a whole σ up to 2²¹, or small rationals). */
  constructor(numerator: number, denominator: number, stream: CryptoStream) {
    super(stream);
    if (!(Number.isSafeInteger(numerator) && Number.isSafeInteger(denominator) && numerator >= 1 && denominator >= 1)) {
      throw new RangeError(`discrete Gaussian σ² must be a ratio of whole numbers >= 1; got ${numerator}/${denominator}`);
    }
    const t = ceilSqrt(numerator, denominator);
    // (|Y| − p/(qt))²/(2p/q) = (|Y|·qt − p)²/(2pq·t²); divide qt and p by their gcd g (g = t when σ = t is whole).
    const g = gcd(denominator * t, numerator);
    const den = Number((2n * BigInt(numerator) * BigInt(denominator) * BigInt(t) ** 2n) / BigInt(g) ** 2n);
    if (!(t <= MAX_SIGMA && Number.isSafeInteger(denominator * t) && den <= MAX_EXPONENT_DENOMINATOR)) {
      throw new RangeError(
        `discrete Gaussian σ² = ${numerator}/${denominator} is outside the sampler's exact range (2σ² in lowest terms ≤ 2⁴³)`,
      );
    }
    this.scale = t;
    this.scaleQuotient = Math.floor(TWO_POW_32 / t);
    this.slope = (denominator * t) / g;
    this.offset = numerator / g;
    this.den = den;
    this.denQuotient = quotientOf2Pow53(den);
  }

  /** Adds one independent draw to each entry of `values`, in place. */
  addTo(values: Float64Array): void {
    this.alignToWord(); // each vector starts on a fresh word, so a run resumed from a checkpoint repeats (tests only)
    for (let i = 0; i < values.length; i++) values[i] += this.sample();
  }

  /**
   * CKS Algorithm 3 with Laplace scale t = ⌈σ⌉ (any t > 0 is exact; t ≈ σ is efficient): Y ~ Lap_Z(t), accepted with
   * probability exp(−(|Y| − σ²/t)²/(2σ²)); then P[Y = y]·P[accept] ∝ exp(−y²/(2σ²)).
   */
  sample(): number {
    for (;;) {
      const y = this.laplace();
      if (this.acceptExponent(Math.abs(y) * this.slope - this.offset)) return y;
    }
  }

  /** CKS Algorithm 2 (s = 1): P[Y = y] ∝ exp(−|y|/t), as U + t·V with U uniform then tilted by exp(−U/t), V geometric. */
  laplace(): number {
    const t = this.scale;
    for (;;) {
      const u = this.uniformBelowScale();
      if (!this.bernoulliExpFraction(u, t)) continue;
      let v = 0;
      while (this.bernoulliExpMinusOne()) v++;
      const x = u + t * v; // exact: v ≥ 2³¹ has probability e^(−2³¹)
      const negative = this.bit() === 1;
      if (negative && x === 0) continue;
      return negative ? -x : x;
    }
  }

  /** True with probability exp(−a²/den). */
  private acceptExponent(a: number): boolean {
    const den = this.den;
    if (Math.abs(a) < SQUARE_SAFE) {
      const square = a * a; // < 2⁵²
      let whole = Math.floor(square / den);
      let r = square - whole * den; // whole·den ≤ square + den < 2⁵³: exact; one step fixes a rounded quotient
      if (r < 0) {
        whole--;
        r += den;
      } else if (r >= den) {
        whole++;
        r -= den;
      }
      return this.bernoulliExpSplit(whole, r, den, this.denQuotient);
    }
    const square = BigInt(a) * BigInt(a);
    const whole = square / BigInt(den);
    return this.bernoulliExpSplit(whole, Number(square - whole * BigInt(den)), den, this.denQuotient);
  }

  /** Uniform on {0, …, t − 1}. */
  private uniformBelowScale(): number {
    const k = this.scaleQuotient;
    const limit = k * this.scale;
    for (;;) {
      const word = this.stream.uint32();
      if (word < limit) return Math.floor(word / k); // exact: word/k is never within 2⁻⁵³·word/k of the next whole number
    }
  }
}
