// Gaussian noise in float64 from the CSPRNG, by Marsaglia's polar method (Box–Muller without the sine and cosine) on
// 53-bit uniforms.
import type { CryptoStream } from './csprng';

/** Adds N(0, std²) to every entry of `values`, in place. */
export function addGaussianNoise(values: Float64Array, std: number, stream: CryptoStream): void {
  for (let i = 0; i < values.length; i += 2) {
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * stream.uniform() - 1;
      v = 2 * stream.uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0); // a uniform point in the unit disc; accepted with probability π/4
    const scale = std * Math.sqrt((-2 * Math.log(s)) / s);
    values[i] += scale * u;
    if (i + 1 < values.length) values[i + 1] += scale * v;
  }
}
