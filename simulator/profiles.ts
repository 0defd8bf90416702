// Customer and terminal profiles (Handbook chapter 3) and each customer's terminals within the radius.
import { Rng } from '../ml/random';
import { STREAM } from './streams';

/** Side of the square on which customers and terminals are placed. */
export const AREA_SIDE = 100;

export interface TerminalProfiles {
  count: number;
  x: Float64Array;
  y: Float64Array;
}

export interface CustomerProfiles {
  count: number;
  x: Float64Array;
  y: Float64Array;
  meanAmount: Float64Array;
  stdAmount: Float64Array;
  meanNbTxPerDay: Float64Array;
  /** Customer c's available terminals are terminalIds[terminalStart[c] … terminalStart[c + 1]), ascending. */
  terminalStart: Int32Array;
  terminalIds: Int32Array;
}

/** Terminal t at (x, y) ~ U(0, 100)², drawn from its own stream. */
export function generateTerminalProfiles(count: number, seed: number): TerminalProfiles {
  const x = new Float64Array(count);
  const y = new Float64Array(count);
  for (let t = 0; t < count; t++) {
    const rng = new Rng([seed, STREAM.terminalProfile, t]);
    x[t] = rng.uniformRange(0, AREA_SIDE);
    y[t] = rng.uniformRange(0, AREA_SIDE);
  }
  return { count, x, y };
}

/** A uniform grid of terminals with cells wider than `radius`, so a disc of that radius meets 3 × 3 cells at most. */
class TerminalGrid {
  readonly side: number;
  readonly cellSize: number;
  /** Terminals of cell k are ids[start[k] … start[k + 1]), ascending. */
  readonly start: Int32Array;
  readonly ids: Int32Array;

  constructor(terminals: TerminalProfiles, radius: number) {
    this.side = Math.max(1, Math.min(Math.ceil(AREA_SIDE / radius), Math.floor(Math.sqrt(terminals.count))));
    while (this.side > 1 && AREA_SIDE / this.side <= radius) this.side--; // cells wider than r: no rounding at the edge
    this.cellSize = AREA_SIDE / this.side;
    const cells = new Int32Array(terminals.count);
    this.start = new Int32Array(this.side * this.side + 1);
    for (let t = 0; t < terminals.count; t++) {
      cells[t] = this.cellOf(terminals.x[t], terminals.y[t]);
      this.start[cells[t] + 1]++;
    }
    for (let k = 0; k < this.side * this.side; k++) this.start[k + 1] += this.start[k];
    const next = this.start.slice(0, -1);
    this.ids = new Int32Array(terminals.count);
    for (let t = 0; t < terminals.count; t++) this.ids[next[cells[t]]++] = t;
  }

  coordinate(value: number): number {
    return Math.min(this.side - 1, Math.max(0, Math.floor(value / this.cellSize)));
  }

  cellOf(x: number, y: number): number {
    return this.coordinate(y) * this.side + this.coordinate(x);
  }
}

/** Customer c at (x, y) ~ U(0, 100)², mean_amount ~ U(5, 100), std = mean / 2, mean_nb_tx_per_day ~ U(0, 4). */
export function generateCustomerProfiles(count: number, seed: number, terminals: TerminalProfiles, radius: number): CustomerProfiles {
  const profiles: CustomerProfiles = {
    count,
    x: new Float64Array(count),
    y: new Float64Array(count),
    meanAmount: new Float64Array(count),
    stdAmount: new Float64Array(count),
    meanNbTxPerDay: new Float64Array(count),
    terminalStart: new Int32Array(count + 1),
    terminalIds: new Int32Array(0),
  };
  for (let c = 0; c < count; c++) {
    const rng = new Rng([seed, STREAM.customerProfile, c]);
    profiles.x[c] = rng.uniformRange(0, AREA_SIDE);
    profiles.y[c] = rng.uniformRange(0, AREA_SIDE);
    profiles.meanAmount[c] = rng.uniformRange(5, 100);
    profiles.stdAmount[c] = profiles.meanAmount[c] / 2;
    profiles.meanNbTxPerDay[c] = rng.uniformRange(0, 4);
  }
  assignTerminalsWithinRadius(profiles, terminals, radius);
  return profiles;
}

/** Fills terminalStart / terminalIds: the terminals at Euclidean distance < radius of each customer. */
function assignTerminalsWithinRadius(customers: CustomerProfiles, terminals: TerminalProfiles, radius: number): void {
  const grid = new TerminalGrid(terminals, radius);
  const radiusSquared = radius * radius;
  let ids = new Int32Array(Math.max(16, customers.count * 8));
  let size = 0;
  const found: number[] = [];
  for (let c = 0; c < customers.count; c++) {
    const cx = customers.x[c];
    const cy = customers.y[c];
    const gx = grid.coordinate(cx);
    const gy = grid.coordinate(cy);
    found.length = 0;
    for (let j = Math.max(0, gy - 1); j <= Math.min(grid.side - 1, gy + 1); j++) {
      for (let i = Math.max(0, gx - 1); i <= Math.min(grid.side - 1, gx + 1); i++) {
        const cell = j * grid.side + i;
        for (let k = grid.start[cell]; k < grid.start[cell + 1]; k++) {
          const t = grid.ids[k];
          const dx = terminals.x[t] - cx;
          const dy = terminals.y[t] - cy;
          if (dx * dx + dy * dy < radiusSquared) found.push(t);
        }
      }
    }
    found.sort((a, b) => a - b);
    if (size + found.length > ids.length) {
      const grown = new Int32Array(Math.max(ids.length * 2, size + found.length));
      grown.set(ids);
      ids = grown;
    }
    for (const t of found) ids[size++] = t;
    customers.terminalStart[c + 1] = size;
  }
  customers.terminalIds = ids.slice(0, size);
}
