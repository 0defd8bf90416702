// The cards of the training rows (privacy unit 'card'): each card's rows, found once, so that a step can Poisson-sample
// cards and take all of their rows, and the per-card clipping can sum each card's gradient.
import { InvalidInputError } from '../errors';

/** Rows by card, CSR: card k's rows are rows[start[k] … start[k + 1]). */
export interface CardIndex {
  cards: number;
  start: Int32Array;
  rows: Int32Array;
}

/** Checks `groups` (one 0-based card index per row, every card in 0 … max with a row) and indexes the rows by card. */
export function indexCards(groups: Int32Array | undefined, rows: number): CardIndex {
  if (!(groups instanceof Int32Array)) {
    throw new InvalidInputError(
      `data.groups must be an Int32Array of each row's card index when privacy.unit is card; got ${Object.prototype.toString.call(groups)}`,
    );
  }
  if (groups.length !== rows) throw new InvalidInputError(`data.groups.length must be rows = ${rows}; got ${groups.length}`);
  let cards = 0;
  for (let r = 0; r < rows; r++) {
    const card = groups[r];
    if (card < 0) throw new InvalidInputError(`data.groups[${r}] must be a card index >= 0; got ${card}`);
    if (card >= cards) cards = card + 1;
  }
  const start = new Int32Array(cards + 1);
  for (let r = 0; r < rows; r++) start[groups[r] + 1]++;
  for (let k = 0; k < cards; k++) {
    if (start[k + 1] === 0)
      throw new InvalidInputError(`data.groups must number the cards 0 … ${cards - 1} without gaps; card ${k} has no row`);
    start[k + 1] += start[k];
  }
  const fill = start.slice(0, cards);
  const byCard = new Int32Array(rows);
  for (let r = 0; r < rows; r++) byCard[fill[groups[r]]++] = r;
  return { cards, start, rows: byCard };
}
