// DP-SGD noise on a fixed-point grid: the clipped gradient sum is rounded to multiples of γ and the discrete Gaussian
// (discrete-gaussian.ts) is added in grid units, so the released sum is γ·(integer vector) and no floating-point
// structure of a Gaussian sampler can leak the data (Mironov 2012; Jin et al., IEEE S&P 2022).
//
// Accounting. Let C be the clipping norm, d the parameter count and σ the planned noise multiplier. The clipped sums
// a, b of neighbouring batches satisfy ‖a − b‖₂ ≤ C. Rounding each coordinate to the nearest multiple of γ
// (deterministic) moves a vector by at most γ√d/2, so the rounded sums, in grid units, differ by an INTEGER vector μ
// with ‖μ‖₂ ≤ Δ = (C + γ√d)/γ: the sensitivity grows from C to C + γ√d. The noise is N_Z(0, t²) per coordinate,
// t a whole number, and γ = σC/(t − σ√d) makes t/Δ = σ: the noise multiplier relative to the ADJUSTED sensitivity
// C + γ√d is exactly the planned σ, so the accountant's σ is unchanged. (γ is then raised by a factor 1 + 2⁻³², so
// floating-point error in computing γ, √d or g/γ can only make the noise relatively larger, never smaller; the
// price in utility is the inflation (C + γ√d)/C ≈ 1 + 2⁻¹², exposed as PrivacySpent.noise.inflation.)
//
// What is proven and what is assumed. For integer shifts the discrete Gaussian behaves as the continuous one: it is
// sub-Gaussian with the same constant, E[e^{λX}] ≤ e^{λ²t²/2} (Canonne, Kamath, Steinke 2020), so the privacy loss
// ⟨x, μ⟩/t² − ‖μ‖²/(2t²) of one unsampled step has the continuous Gaussian's Rényi divergence bound
// D_α ≤ α‖μ‖²/(2t²) = α/(2σ²) at every order α (CKS 2020, the concentrated-DP result for the discrete Gaussian,
// coordinates composed independently). The accountants (RDP of the sampled Gaussian, Mironov–Talwar–Zhang 2019, and
// the PLD of its dominating pair) are computed for the CONTINUOUS subsampled Gaussian; using them here assumes that
// the subsampled discrete Gaussian with integer shift of norm ≤ Δ is dominated by that continuous pair. This is not
// proven in general; the two laws differ by terms of order e^{−2π²t²} (Poisson summation; t ≥ 2¹²), far below the
// accountants' own discretisation, and CKS show the (ε, δ) curves of the two coincide in practice. The report cites
// this assumption through PrivacySpent.noise.citation. Not covered either: float32 rounding inside the clipped sum
// itself (TensorFlow computes per-example norms and the sum in float32), which can exceed C by a few ulps.
import { InvalidInputError } from '../errors';
import { CryptoStream } from './csprng';
import { DiscreteGaussian, MAX_SIGMA } from './discrete-gaussian';
import { WorkerNoise } from './noise-worker';
import type { NoiseDescription } from './types';

export const NOISE_CITATION =
  'discrete Gaussian on a fixed-point grid, sampled exactly from an AES-256-CTR keystream: C. Canonne, G. Kamath, ' +
  'T. Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS 2020 (Algorithms 1-3); sensitivity C + γ√d for ' +
  'rounding to the grid γ, noise t = σ·(C + γ√d)/γ grid units; accounted as the continuous subsampled Gaussian with the same σ';

/** 1 + this is the targeted sensitivity inflation (C + γ√d)/C when t allows. */
const INFLATION_TARGET = 2 ** -12;
const MIN_GRID_SIGMA = 2 ** 12;
const SAFETY = 1 + 2 ** -32;

export interface NoiseGrid {
  /** γ: the grid step, in gradient units. */
  step: number;
  /** t: the discrete Gaussian's σ in grid units (a whole number). */
  sigma: number;
  /** (C + γ√d)/C: the sensitivity after rounding, over the clipping norm. */
  inflation: number;
}

/** The grid for noise multiplier σ, clipping norm C and d parameters (see the accounting note above). */
export function planNoiseGrid(noiseMultiplier: number, clipNorm: number, dimension: number): NoiseGrid {
  const spread = noiseMultiplier * Math.sqrt(dimension); // σ√d
  const sigma = Math.min(MAX_SIGMA, Math.max(MIN_GRID_SIGMA, Math.ceil(spread * (1 + 1 / INFLATION_TARGET))));
  if (!(sigma > 2 * spread)) {
    throw new InvalidInputError(
      `noise multiplier ${noiseMultiplier} with ${dimension} parameters needs a grid finer than the discrete Gaussian sampler allows (σ√d = ${spread.toFixed(0)} must be below ${MAX_SIGMA / 2})`,
    );
  }
  const step = ((noiseMultiplier * clipNorm) / (sigma - spread)) * SAFETY;
  return { step, sigma, inflation: (clipNorm + step * Math.sqrt(dimension)) / clipNorm };
}

/** Where grid noise comes from: a fresh secret key, or (tests only) a seed and a position in its stream. */
export interface NoiseKey {
  seed?: number;
  position?: number;
}

/** Draws of N_Z(0, t²) for whole gradient vectors; `position` is the noise stream's byte offset after the last one. */
export interface NoiseSource {
  addTo(values: Float64Array): void;
  readonly position: number;
  dispose(): void;
}

class InlineNoise implements NoiseSource {
  private readonly stream: CryptoStream;
  private readonly sampler: DiscreteGaussian;

  constructor(sigma: number, key: NoiseKey) {
    this.stream = new CryptoStream(key.seed, 'noise', key.position ?? 0);
    this.sampler = new DiscreteGaussian(sigma * sigma, 1, this.stream);
  }

  addTo(values: Float64Array): void {
    this.sampler.addTo(values);
  }

  get position(): number {
    return this.stream.position;
  }

  dispose(): void {}
}

/** Below this many draws in a run, sampling inline costs less than starting a worker (~50 ms). */
const WORKER_MIN_DRAWS = 2 ** 19;

/**
 * A noise source for `draws` draws in vectors of `dimension`: inline, or for long runs a worker thread that samples
 * the next vectors while the caller computes (the same stream either way, so a seeded test run repeats exactly).
 */
export function createNoiseSource(sigma: number, dimension: number, key: NoiseKey, draws: number): NoiseSource {
  if (draws >= WORKER_MIN_DRAWS)
    return new WorkerNoise(sigma, dimension, key, (position) => new InlineNoise(sigma, { seed: key.seed, position }));
  return new InlineNoise(sigma, key);
}

/**
 * The noise of a DP-SGD run: its grid for (σ, C, d), drawing from a fresh secret key, or from `key.seed` in tests;
 * `steps` is how many vectors the run will still draw.
 */
export function createGridNoise(noiseMultiplier: number, clipNorm: number, dimension: number, key: NoiseKey, steps: number): GridNoise {
  const grid = planNoiseGrid(noiseMultiplier, clipNorm, dimension);
  return new GridNoise(grid, createNoiseSource(grid.sigma, dimension, key, steps * dimension), key.seed === undefined);
}

/** Rounds a clipped gradient sum to the grid and adds the discrete Gaussian: sum ← γ·(round(sum/γ) + Z), in place. */
export class GridNoise {
  constructor(
    readonly grid: NoiseGrid,
    private readonly source: NoiseSource,
    private readonly secret: boolean,
  ) {}

  /** For PrivacySpent.noise. */
  get description(): NoiseDescription {
    return {
      method: this.secret ? 'discrete-gaussian' : 'seeded-test-only',
      secret: this.secret,
      citation: this.secret ? NOISE_CITATION : `${NOISE_CITATION}; NOT secret: the key is a hash of a public test seed`,
      grid: this.grid.step,
      inflation: this.grid.inflation,
    };
  }

  perturb(sum: Float64Array): void {
    const step = this.grid.step;
    for (let j = 0; j < sum.length; j++) sum[j] = Math.round(sum[j] / step);
    this.source.addTo(sum);
    for (let j = 0; j < sum.length; j++) sum[j] *= step;
  }

  get position(): number {
    return this.source.position;
  }

  dispose(): void {
    this.source.dispose();
  }
}
