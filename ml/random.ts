// Seedable pseudo-random numbers (never Math.random): xoshiro128** (32-bit, fast in JS) with uniform, integer,
// normal and Poisson draws. A stream is keyed by a list of whole numbers, e.g. (seed, stream kind, id), so
// independent users of randomness (each simulated customer, SMOTE) get independent sequences.

const TWO_POW_32 = 4294967296;
const GOLDEN = 0x9e3779b9;

/** A 32-bit integer hash with good avalanche (Wellons' two-round multiply-xorshift). */
function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x21f0aaad);
  h ^= h >>> 15;
  h = Math.imul(h, 0x735a2d97);
  h ^= h >>> 15;
  return h >>> 0;
}

/** The 128-bit state for a key of whole numbers (each a safe integer, split into two 32-bit words). */
export function stateFromKey(key: readonly number[]): Int32Array {
  const words: number[] = [];
  for (const part of key) {
    if (!Number.isSafeInteger(part)) throw new RangeError(`rng key part ${part} is not a safe integer`);
    words.push(part >>> 0, Math.floor(part / TWO_POW_32) >>> 0);
  }
  const state = new Int32Array(4);
  // Four hash chains with different starting values: the state is (near) 128 bits of the key, not 32.
  for (let lane = 0; lane < 4; lane++) {
    let h = mix32(Math.imul(lane + 1, GOLDEN));
    for (const word of words) h = mix32((h ^ word) + GOLDEN);
    state[lane] = h;
  }
  if (state[0] === 0 && state[1] === 0 && state[2] === 0 && state[3] === 0) state[0] = 1;
  return state;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** ln(k!) for whole k: exact table below 32, Stirling series beyond (error < 1e-12). */
const LOG_FACTORIAL_TABLE = (() => {
  const table = new Float64Array(32);
  for (let k = 1; k < 32; k++) table[k] = table[k - 1] + Math.log(k);
  return table;
})();
function logFactorial(k: number): number {
  if (k < 32) return LOG_FACTORIAL_TABLE[k];
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x * x * x);
}

export class Rng {
  private readonly s: Int32Array;
  private spareNormal = 0;
  private hasSpareNormal = false;

  /** A stream for a key of whole numbers, such as `[seed, kind, id]`. */
  constructor(key: readonly number[]) {
    this.s = stateFromKey(key);
  }

  /** The next 32 bits, as an unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9);
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result >>> 0;
  }

  /** U[0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** U[low, high). */
  uniformRange(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** A whole number in [0, n), n ≥ 1. */
  uniformInt(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** N(mean, std) by Box–Muller; the second variate of each pair is kept for the next call. */
  normal(mean = 0, std = 1): number {
    if (this.hasSpareNormal) {
      this.hasSpareNormal = false;
      return mean + std * this.spareNormal;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - this.uniform())); // 1 − U is in (0, 1]: log is finite
    const angle = 2 * Math.PI * this.uniform();
    this.spareNormal = radius * Math.sin(angle);
    this.hasSpareNormal = true;
    return mean + std * radius * Math.cos(angle);
  }

  /** Poisson(lambda): multiplication method for small lambda, Hörmann's PTRS (as NumPy) for lambda ≥ 10. */
  poisson(lambda: number): number {
    if (!(lambda > 0)) return 0;
    if (lambda < 10) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let product = this.uniform();
      while (product > limit) {
        k++;
        product *= this.uniform();
      }
      return k;
    }
    const sqrtLambda = Math.sqrt(lambda);
    const logLambda = Math.log(lambda);
    const b = 0.931 + 2.53 * sqrtLambda;
    const a = -0.059 + 0.02483 * b;
    const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.uniform() - 0.5;
      const v = this.uniform();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <= -lambda + k * logLambda - logFactorial(k)) return k;
    }
  }

  /** `count` distinct whole numbers from [0, n), in draw order (count ≤ n). */
  distinctInts(n: number, count: number): number[] {
    if (count > n) throw new RangeError(`cannot draw ${count} distinct values from ${n}`);
    const picked: number[] = [];
    while (picked.length < count) {
      const value = this.uniformInt(n);
      if (!picked.includes(value)) picked.push(value);
    }
    return picked;
  }

  /** Shuffles the first `count` places of `items` into a uniform sample without replacement (partial Fisher–Yates). */
  sampleInPlace(items: number[], count: number): void {
    for (let i = 0; i < count; i++) {
      const j = i + this.uniformInt(items.length - i);
      const swap = items[i];
      items[i] = items[j];
      items[j] = swap;
    }
  }
}
