// The score a search on PRIVATE data ranks its trials by: daily card precision@k over the validation days, released
// with discrete Gaussian noise on its whole-number count, so that each trial (DP training, then this score) is DP and
// Papernot & Steinke's bound applies to the search (ml/tuning/private-search.ts). AP is not used: one row can move it
// by an amount that depends on the private number of frauds, while this count moves by a public bound.
import { CryptoStream } from '../dpsgd/csprng';
import { DiscreteGaussian } from '../dpsgd/discrete-gaussian';
import type { PrivacyUnit } from '../dpsgd/types';
import { InvalidInputError } from '../errors';

export interface ScoredValidationRows {
  score: ArrayLike<number>;
  card: ArrayLike<string | number>;
  day: ArrayLike<number>;
  label: ArrayLike<number>;
}

/**
 * Σ over days of the compromised cards among the day's k highest-scored cards (a card's score on a day is its
 * highest row's, its label 1 when any of its rows is a fraud; ties broken by card id). Unlike the handbook's CP@k, no
 * card is dropped for being detected on an earlier day, so a unit's rows reach no other day's ranking.
 */
export function dailyCardHits(rows: ScoredValidationRows, k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new InvalidInputError(`k = ${k}: must be a whole number >= 1`);
  const byDay = new Map<number, Map<string, { score: number; label: number }>>();
  for (let i = 0; i < rows.score.length; i++) {
    const cards = byDay.get(rows.day[i]) ?? new Map<string, { score: number; label: number }>();
    byDay.set(rows.day[i], cards);
    const id = String(rows.card[i]);
    const card = cards.get(id);
    if (!card) cards.set(id, { score: rows.score[i], label: rows.label[i] ? 1 : 0 });
    else {
      card.score = Math.max(card.score, rows.score[i]);
      card.label = Math.max(card.label, rows.label[i] ? 1 : 0);
    }
  }
  let hits = 0;
  for (const cards of byDay.values()) {
    const ranked = [...cards].sort(([idA, a], [idB, b]) => b.score - a.score || (idA < idB ? -1 : idA > idB ? 1 : 0));
    for (const [, card] of ranked.slice(0, k)) hits += card.label;
  }
  return hits;
}

/**
 * How far one privacy unit's own rows can move dailyCardHits, the features of every other row held fixed. A
 * transaction is one card on one day: the card's score and label there change, so it enters or leaves that day's top
 * k (pushing one card out or letting one in) or flips its own label, never both ways at once: at most 1. A card
 * changes one card on each of its days: at most the number of days. Not covered (as for training: docs/privacy.md):
 * a row also enters the window features of its card's later rows and of other cards' rows at its terminal.
 */
export function hitsSensitivity(unit: PrivacyUnit, validationDays: number): number {
  if (!Number.isInteger(validationDays) || validationDays < 1) {
    throw new InvalidInputError(`validationDays = ${validationDays}: must be a whole number >= 1`);
  }
  return unit === 'card' ? validationDays : 1;
}

/** The whole-number σ of the count's noise: ⌈z·Δ⌉, at least z·Δ, so the accounted RDP α·Δ²/(2σ²) holds for it. */
export const hitsNoiseSigma = (noiseMultiplier: number, sensitivity: number) => Math.ceil(noiseMultiplier * sensitivity);

/**
 * The released score: (hits + N_Z(0, σ²)) / (k · days), the noise from an unseeded CSPRNG (never reproducible).
 * `days` is the number of validation days of the protocol (public), not the days that happen to have rows.
 */
export function noisyCardPrecision(hits: number, k: number, days: number, sigma: number): number {
  if (!(Number.isInteger(sigma) && sigma >= 1)) throw new InvalidInputError(`sigma = ${sigma}: must be a whole number >= 1`);
  const noisy = Float64Array.of(hits);
  new DiscreteGaussian(sigma * sigma, 1, new CryptoStream(undefined, 'tuning-score')).addTo(noisy);
  return noisy[0] / (k * days);
}
