// Drift of the live features against the champion's training data: for each feature, the last `window` values are
// counted in the reference's decile bins (reference.json in the model bundle, written by `referenceStatistics`), and
// the PSI of those counts against the reference's is exported as the gauge fraudops_feature_psi{feature}.
import { Gauge, type Registry } from 'prom-client';
import { bundleOfVersion } from '../clients/model-registry';
import type { S3 } from '../clients/s3';
import { REFERENCE_FILE } from '../ml/bundle';
import { FEATURE_COUNT, FEATURE_NAMES } from '../ml/features';
import { parseReferenceStatistics, populationStabilityIndex, type ReferenceStatistics } from '../ml/validation';
import type { Logger } from '../observability/log';
import type { ServingModel } from '../serving/champion-watcher';

/** The bundle file holding the training data's statistics. */
export const DEFAULT_DRIFT_WINDOW = 10_000;

/** One feature's rolling bin counts: a ring of the bin of each of the last `window` values. */
class RollingBins {
  readonly counts: number[];
  private readonly ring: Uint8Array;
  private next = 0;
  size = 0;

  constructor(
    readonly feature: string,
    readonly column: number,
    /** The reference's right-closed bins: bin 0 is (-∞, cuts[0]], bin i is (cuts[i-1], cuts[i]], the last (cuts[k-1], ∞). */
    readonly cuts: readonly number[],
    readonly referenceCounts: readonly number[],
    window: number,
  ) {
    this.counts = new Array<number>(cuts.length + 1).fill(0);
    this.ring = new Uint8Array(window);
  }

  add(value: number): void {
    const bin = binOf(this.cuts, value);
    if (this.size === this.ring.length) this.counts[this.ring[this.next]] -= 1;
    else this.size += 1;
    this.ring[this.next] = bin;
    this.counts[bin] += 1;
    this.next = (this.next + 1) % this.ring.length;
  }

  psi(): number {
    return populationStabilityIndex(this.referenceCounts, this.counts);
  }
}

/** The right-closed bin of a value: the first cut at or above it (binary search). */
export function binOf(cuts: readonly number[], value: number): number {
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cuts[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class DriftMonitor {
  private bins: RollingBins[] = [];
  private readonly warned = new Set<string>();

  constructor(
    registry: Registry,
    private readonly log: Logger,
    private readonly window = DEFAULT_DRIFT_WINDOW,
  ) {
    const monitor = this;
    new Gauge({
      name: 'fraudops_feature_psi',
      help: `Population stability index of each live feature (last ${window} scored rows) against the champion's training data`,
      labelNames: ['feature'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [feature, psi] of monitor.psi()) this.set({ feature }, psi);
      },
    });
    new Gauge({
      name: 'fraudops_feature_drift_window_rows',
      help: 'Live rows in the drift window',
      registers: [registry],
      collect() {
        this.set(monitor.bins[0]?.size ?? 0);
      },
    });
  }

  /** Stops monitoring until the next reference (e.g. while a new model's reference loads). */
  clear(): void {
    this.bins = [];
  }

  /** Starts a fresh window against a model's reference; without one, exports nothing (and says so once per version). */
  setReference(modelVersion: string, reference: ReferenceStatistics | undefined): void {
    this.bins = [];
    if (!reference) {
      if (!this.warned.has(modelVersion)) {
        this.warned.add(modelVersion);
        this.log.warn({ modelVersion }, `the champion bundle has no ${REFERENCE_FILE}: no drift gauges for this model`);
      }
      return;
    }
    for (const feature of reference.features) {
      const column = FEATURE_NAMES.indexOf(feature.name as (typeof FEATURE_NAMES)[number]);
      if (column < 0) continue;
      this.bins.push(new RollingBins(feature.name, column, feature.bins.cuts, feature.bins.counts, this.window));
    }
    this.log.info({ modelVersion, features: this.bins.length, window: this.window }, 'drift monitoring against the champion reference');
  }

  /** Counts scored feature rows (rows × width, row-major; the 15 handbook features first). */
  observe(features: ArrayLike<number>, rows: number, width = FEATURE_COUNT): void {
    for (const bins of this.bins) {
      for (let r = 0; r < rows; r++) bins.add(features[r * width + bins.column]);
    }
  }

  /** The feature with the largest PSI above `limit`, once the window is full (a few rows prove nothing); else undefined. */
  severe(limit: number): { feature: string; psi: number } | undefined {
    let worst: { feature: string; psi: number } | undefined;
    for (const bins of this.bins) {
      if (bins.size < this.window) continue;
      const psi = bins.psi();
      if (psi > limit && psi > (worst?.psi ?? 0)) worst = { feature: bins.feature, psi };
    }
    return worst;
  }

  /** PSI per monitored feature; empty before a reference or before the first row. */
  psi(): Map<string, number> {
    const out = new Map<string, number>();
    for (const bins of this.bins) if (bins.size) out.set(bins.feature, bins.psi());
    return out;
  }
}

/** The reference statistics in a serving model's bundle, or undefined when the bundle has none. */
export async function referenceOfModel(deps: { s3: S3; bucket: string }, model: ServingModel): Promise<ReferenceStatistics | undefined> {
  if (!model.loaded.manifest.files[REFERENCE_FILE]) return undefined;
  const files = await bundleOfVersion(deps.s3, deps.bucket, model.modelVersion);
  const content = files.get(REFERENCE_FILE);
  if (!content) return undefined;
  return parseReferenceStatistics(JSON.parse(Buffer.from(content).toString('utf8')), `${REFERENCE_FILE} of model version ${model.version}`);
}
