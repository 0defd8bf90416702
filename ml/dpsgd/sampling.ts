// Which rows each step trains on: Poisson sampling for DP-SGD (every row independently, with its class's rate; or
// every card independently, with all its rows), shuffled mini-batches for the non-private mode.
import { Rng } from '../random';
import type { CardIndex } from './card-groups';
import type { CryptoStream } from './csprng';

/**
 * Appends to `out` each of `candidates` independently with probability `rate`. Draws the gaps between chosen rows
 * (geometric with parameter `rate`) instead of one coin per row: the same distribution, with ~rate·n uniforms.
 */
function bernoulliSubset(candidates: Int32Array, rate: number, stream: CryptoStream, out: number[]): void {
  if (rate >= 1) {
    for (const row of candidates) out.push(row);
    return;
  }
  const logKeep = Math.log1p(-rate);
  let i = -1;
  for (;;) {
    i += 1 + Math.floor(Math.log(1 - stream.uniform()) / logKeep); // P(gap = k) = (1 − rate)^k · rate
    if (i >= candidates.length) return;
    out.push(candidates[i]);
  }
}

/** One Poisson sample per call: row r is in it with probability rates[label of r], independently of everything else. */
export class PoissonSampler {
  private readonly byClass: [Int32Array, Int32Array];

  constructor(
    labels: Uint8Array,
    private readonly rates: { negative: number; positive: number },
    private readonly stream: CryptoStream,
  ) {
    const positives: number[] = [];
    const negatives: number[] = [];
    labels.forEach((label, row) => {
      (label ? positives : negatives).push(row);
    });
    this.byClass = [Int32Array.from(negatives), Int32Array.from(positives)];
  }

  next(): Int32Array {
    const rows: number[] = [];
    bernoulliSubset(this.byClass[0], this.rates.negative, this.stream, rows);
    bernoulliSubset(this.byClass[1], this.rates.positive, this.stream, rows);
    return Int32Array.from(rows);
  }
}

/** A card-level sample: the sampled cards' rows, card by card, and each row's card numbered 0 … cards − 1 in the sample. */
export interface CardSample {
  rows: Int32Array;
  cardOf: Int32Array;
  cards: number;
}

/** One Poisson sample of cards per call: every card independently with probability `rate`, with all of its rows. */
export class CardSampler {
  private readonly all: Int32Array;

  constructor(
    private readonly index: CardIndex,
    private readonly rate: number,
    private readonly stream: CryptoStream,
  ) {
    this.all = Int32Array.from({ length: index.cards }, (_, k) => k);
  }

  next(): CardSample {
    const chosen: number[] = [];
    bernoulliSubset(this.all, this.rate, this.stream, chosen);
    const { start, rows: byCard } = this.index;
    let size = 0;
    for (const k of chosen) size += start[k + 1] - start[k];
    const rows = new Int32Array(size);
    const cardOf = new Int32Array(size);
    let b = 0;
    chosen.forEach((k, j) => {
      rows.set(byCard.subarray(start[k], start[k + 1]), b);
      cardOf.fill(j, b, b + start[k + 1] - start[k]);
      b += start[k + 1] - start[k];
    });
    return { rows, cardOf, cards: chosen.length };
  }
}

const SHUFFLE_STREAM = 0x5348;

/** Batch b of an epoch: a slice of that epoch's permutation, which a seeded Rng draws (so any step can be re-derived). */
export class ShuffledBatches {
  private epoch = -1;
  private order = new Int32Array(0);

  constructor(
    private readonly rows: number,
    private readonly batchSize: number,
    private readonly seed: number,
  ) {}

  get batchesPerEpoch(): number {
    return Math.ceil(this.rows / this.batchSize);
  }

  /** The rows of 0-based step `step` (counted from the start of training). */
  batch(step: number): Int32Array {
    const epoch = Math.floor(step / this.batchesPerEpoch);
    if (epoch !== this.epoch) {
      const rows = Array.from({ length: this.rows }, (_, i) => i);
      new Rng([this.seed, SHUFFLE_STREAM, epoch]).sampleInPlace(rows, this.rows);
      this.order = Int32Array.from(rows);
      this.epoch = epoch;
    }
    const start = (step % this.batchesPerEpoch) * this.batchSize;
    return this.order.subarray(start, Math.min(this.rows, start + this.batchSize));
  }
}
