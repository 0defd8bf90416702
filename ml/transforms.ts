// Preprocessing of the 15 model inputs before the MLP: y = (f(x) − center) / scale per feature, f = log1p or identity.
//
// `fixed` is data-independent, so it costs no privacy and is the default for DP training: its constants come from
// public knowledge only, either the analytic moments of the handbook simulator's published parameters (records.moments:
// simulator, for simulated data) or the declared public bounds (records.bounds and the numeric columns' ranges). `standard` is the
// handbook's scaler (mean / std fitted on the training rows without noise): its statistics leak outside the DP budget,
// so it is for non-private runs only and the privacy report says so.
import { InvalidInputError } from './errors';
import { type FeatureSet, HANDBOOK_FEATURE_SET } from './feature-set';
import { FEATURE_NAMES, type FeatureName, WINDOW_DAYS } from './features';
import type { PreprocessingStep } from './privacy/report';
import { normCdf } from './privacy/special';

export const TRANSFORM_FORMAT = 'fraudops-transform/1';
export const TRANSFORM_KINDS = ['fixed', 'standard'] as const;
export type TransformKind = (typeof TRANSFORM_KINDS)[number];

export interface FeatureTransform {
  feature: string;
  /** Apply log1p before the affine step. */
  log1p: boolean;
  center: number;
  scale: number;
}

/** Serialisable (JSON) preprocessing of the model inputs, one entry per input of the feature set, in its order. */
export interface TransformSpec {
  format: typeof TRANSFORM_FORMAT;
  kind: TransformKind;
  /** fixed: the public knowledge its constants come from (records.moments). */
  basis?: FeatureSet['moments'];
  features: FeatureTransform[];
  /**
   * Family quadratic: the inputs are followed by every product u_i·u_j (i ≤ j) of u = the transformed inputs clamped
   * to ±bound and divided by it, so a logistic regression over them is quadratic in the inputs. The bound is a
   * public constant (PAIRWISE_BOUND), no statistic of any data.
   */
  pairwise?: { bound: number };
}

/** Where family quadratic clamps the transformed inputs before it multiplies them: ±2 in the transform's units. */
export const PAIRWISE_BOUND = 2;

/** The number of model inputs a transform produces: the feature set's inputs, and their pairwise products if asked. */
export function transformWidth(spec: Pick<TransformSpec, 'features' | 'pairwise'>): number {
  return spec.pairwise ? widthWithProducts(spec.features.length) : spec.features.length;
}

/** d inputs and their d(d + 1)/2 pairwise products (squares included). */
const widthWithProducts = (d: number) => d + (d * (d + 1)) / 2;

/**
 * The simulator's published parameters (HANDBOOK §Simulator, Handbook chapter 3). The fixed transform is derived from
 * these numbers alone, never from a statistic of any data set.
 */
export interface SimulatorParameters {
  customers: number;
  terminals: number;
  areaSide: number;
  radius: number;
  meanAmount: { low: number; high: number };
  stdPerMean: number;
  maxTxPerDay: number;
  timeOfDay: { mean: number; std: number };
  nightEndsSeconds: number;
  compromisedTerminalsPerDay: number;
  compromiseDays: number;
}

export const SIMULATOR_PARAMETERS: Readonly<SimulatorParameters> = Object.freeze({
  customers: 5000,
  terminals: 10000,
  /** Customers and terminals lie on a square of this side; a customer uses the terminals within `radius`. */
  areaSide: 100,
  radius: 5,
  /** mean_amount ~ U(low, high); std_amount = mean_amount · stdPerMean. */
  meanAmount: { low: 5, high: 100 },
  stdPerMean: 0.5,
  /** mean_nb_tx_per_day ~ U(0, max). */
  maxTxPerDay: 4,
  /** Time of day t ~ N(mean, std) seconds, kept only when 0 < t < 86400. */
  timeOfDay: { mean: 43200, std: 20000 },
  /** TX_DURING_NIGHT: hour ≤ 6, i.e. t < 7 h. */
  nightEndsSeconds: 7 * 3600,
  /** Scenario 2: this many terminals drawn a day, compromised for `compromiseDays` days. */
  compromisedTerminalsPerDay: 2,
  compromiseDays: 28,
});

export interface FeatureMoments {
  mean: number;
  std: number;
}

const DAY_SECONDS = 86400;

/**
 * The analytic mean and standard deviation of each feature over transactions (FEATURE_NAMES order), from
 * SIMULATOR_PARAMETERS. Approximations (all stated): frauds are ignored except in the risks; the negative-amount redraw
 * U(0, 2m) keeps the mean m and is ignored in the variance (it hits 2.3 % of draws); the area's edges are ignored.
 */
export function fixedFeatureMoments(p: SimulatorParameters = SIMULATOR_PARAMETERS): FeatureMoments[] {
  const { low, high } = p.meanAmount;
  const { mean: todMean, std: todStd } = p.timeOfDay;
  // Share of attempted transactions kept (0 < t < 86400).
  const keep = normCdf((DAY_SECONDS - todMean) / todStd) - normCdf(-todMean / todStd);
  // Amount: m ~ U(low, high), amount | m ~ N(m, (s·m)²); the tx rate is independent of m, so per transaction
  // E = E[m], Var = Var(m) + s²·E[m²].
  const amountMean = (low + high) / 2;
  const amountM2 = (low * low + low * high + high * high) / 3;
  const amountVarM = (high - low) ** 2 / 12;
  const withinVar = p.stdPerMean ** 2 * amountM2;
  // A transaction comes from a customer with probability ∝ its rate λ ~ U(0, Λ): λ has density 2λ/Λ² over transactions,
  // E_w[λ] = 2Λ/3, Var_w[λ] = Λ²/18. Given λ, the customer's other transactions in n days are Poisson(keep·λ·n).
  const L = p.maxTxPerDay;
  const lambdaW = (2 * L) / 3;
  const lambdaVarW = (L * L) / 18;
  // Terminals: a terminal has Poisson(M) customers within the radius, each spreading keep·λ a day over N terminals;
  // its daily rate ρ has E = M·keep·E[λ]/N, Var = M·E[λ²]·(keep/N)² (compound Poisson, λ unweighted: E = Λ/2,
  // E[λ²] = Λ²/3). A transaction's terminal is drawn ∝ ρ, so its E_w[ρ] = E[ρ] + Var(ρ)/E[ρ].
  const disc = Math.PI * p.radius ** 2;
  const customersPerTerminal = (p.customers * disc) / p.areaSide ** 2;
  const terminalsPerCustomer = (p.terminals * disc) / p.areaSide ** 2;
  const rhoMean = (customersPerTerminal * keep * (L / 2)) / terminalsPerCustomer;
  const rhoVar = customersPerTerminal * ((L * L) / 3) * (keep / terminalsPerCustomer) ** 2;
  const rhoW = rhoMean + rhoVar / rhoMean;
  // Risk (scenario 2; scenarios 1 and 3 add little): a terminal's compromise of D days starts on a given day with
  // probability a = k/terminals, and all its transactions are then fraud, so the n-day window's risk is the share f of
  // the window inside a compromise. Over the window's offset u, the overlap is a trapezoid of height h = min(n, D),
  // ramps h and plateau |n − D|: ∫f du = D, ∫f² du = (2h³/3 + |n − D|·h²)/n², so E[f] = a·D, E[f²] = a·∫f² du.
  const startRate = p.compromisedTerminalsPerDay / p.terminals;
  const D = p.compromiseDays;
  const risk = (n: number): FeatureMoments => {
    const h = Math.min(n, D);
    const mean = startRate * D;
    const second = (startRate * ((2 * h ** 3) / 3 + Math.abs(n - D) * h * h)) / (n * n);
    return { mean, std: Math.sqrt(second - mean * mean) };
  };
  const bernoulli = (q: number): FeatureMoments => ({ mean: q, std: Math.sqrt(q * (1 - q)) });
  const night = (normCdf((p.nightEndsSeconds - todMean) / todStd) - normCdf(-todMean / todStd)) / keep;

  return FEATURE_NAMES.map((feature: FeatureName): FeatureMoments => {
    if (feature === 'TX_AMOUNT') return { mean: amountMean, std: Math.sqrt(amountVarM + withinVar) };
    if (feature === 'TX_DURING_WEEKEND') return bernoulli(2 / 7);
    if (feature === 'TX_DURING_NIGHT') return bernoulli(night);
    const n = WINDOW_DAYS.find((days) => feature.endsWith(`_${days}DAY_WINDOW`));
    if (n === undefined) throw new Error(`no fixed moments for feature ${feature}`);
    if (feature.includes('_RISK_')) return risk(n);
    const c = keep * n;
    if (feature.startsWith('CUSTOMER_ID_NB_TX_')) {
      // 1 (the current transaction) + Poisson(c·λ), λ size-biased.
      return { mean: 1 + c * lambdaW, std: Math.sqrt(c * lambdaW + c * c * lambdaVarW) };
    }
    if (feature.startsWith('CUSTOMER_ID_AVG_AMOUNT_')) {
      // Mean of k = 1 + Poisson(cλ) amounts of one customer: Var = Var(m) + s²·E[m²]·E_w[1/k], where
      // E[1/k | λ] = (1 − e^{−cλ})/(cλ) and E_w[1/k] = 2/(Λ²c) · (Λ − (1 − e^{−cΛ})/c).
      const inverseCount = (2 / (L * L * c)) * (L - (1 - Math.exp(-c * L)) / c);
      return { mean: amountMean, std: Math.sqrt(amountVarM + withinVar * inverseCount) };
    }
    if (feature.startsWith('TERMINAL_ID_NB_TX_')) {
      // Poisson(ρ·n) over the shifted window (the current transaction is not in it), ρ drawn ∝ ρ.
      return { mean: rhoW * n, std: Math.sqrt(rhoW * n + rhoVar * n * n) };
    }
    throw new Error(`no fixed moments for feature ${feature}`);
  });
}

/** Maps a public range [lo, hi] onto [−1, 1], through log1p (for skewed amounts and counts) or linearly. */
function rangeTransform(feature: string, [lo, hi]: readonly [number, number], log: boolean): FeatureTransform {
  const [a, b] = log ? [Math.log1p(lo), Math.log1p(hi)] : [lo, hi];
  return { feature, log1p: log, center: (a + b) / 2, scale: (b - a) / 2 };
}

/** A core feature under records.bounds: amounts and per-window counts through log1p, 0/1 flags and risks linearly. */
function coreTransform(feature: FeatureName, bounds: FeatureSet['bounds']): FeatureTransform {
  if (feature === 'TX_AMOUNT' || feature.startsWith('CUSTOMER_ID_AVG_AMOUNT_')) return rangeTransform(feature, bounds.amount, true);
  const n = WINDOW_DAYS.find((days) => feature.endsWith(`_${days}DAY_WINDOW`)) ?? 1;
  if (feature.startsWith('CUSTOMER_ID_NB_TX_')) return rangeTransform(feature, [0, bounds.cardTxPerDay * n], true);
  if (feature.startsWith('TERMINAL_ID_NB_TX_')) return rangeTransform(feature, [0, bounds.terminalTxPerDay * n], true);
  return rangeTransform(feature, [0, 1], false);
}

/**
 * The data-independent transform of a feature set: the core features standardised with the simulator's analytic
 * moments (fixedFeatureMoments) or mapped from their public bounds (records.moments), each extra input from its
 * declared range (numeric) or as it is (a categorical column's 0/1 indicators).
 */
export function fixedTransform(set: FeatureSet = HANDBOOK_FEATURE_SET): TransformSpec {
  const moments = set.moments === 'simulator' ? fixedFeatureMoments() : undefined;
  const core = FEATURE_NAMES.map(
    (feature, j): FeatureTransform =>
      moments ? { feature, log1p: false, center: moments[j].mean, scale: moments[j].std } : coreTransform(feature, set.bounds),
  );
  const extras = set.extras.flatMap((extra): FeatureTransform[] => {
    // A non-negative range (amounts, populations, counts) is mapped through log1p, any other linearly.
    if (extra.kind === 'numeric') {
      const range = extra.range ?? [-1, 1];
      return [rangeTransform(extra.column, range, range[0] >= 0)];
    }
    return set.names
      .filter((name) => name.startsWith(`${extra.column}#`))
      .map((feature) => ({ feature, log1p: false, center: 0, scale: 1 }));
  });
  return { format: TRANSFORM_FORMAT, kind: 'fixed', basis: set.moments, features: [...core, ...extras] };
}

function checkMatrix(x: ArrayLike<number>, rows: number, width: number): void {
  if (!Number.isInteger(rows) || rows < 0) throw new InvalidInputError(`rows = ${rows}: rows must be a whole number >= 0`);
  if (x.length !== rows * width) {
    throw new InvalidInputError(`x has ${x.length} values: it must hold rows × ${width} features = ${rows * width}`);
  }
}

/** The handbook's StandardScaler: population mean and std per feature (scale 1 for a constant feature, as scikit-learn). */
function standardTransform(x: ArrayLike<number>, rows: number, names: readonly string[]): TransformSpec {
  if (rows < 1) throw new InvalidInputError(`rows = ${rows}: the standard transform needs at least one training row`);
  const width = names.length;
  const features = names.map((feature, j): FeatureTransform => {
    let sum = 0;
    for (let i = 0; i < rows; i++) sum += x[i * width + j];
    const mean = sum / rows;
    let squares = 0;
    for (let i = 0; i < rows; i++) squares += (x[i * width + j] - mean) ** 2;
    const std = Math.sqrt(squares / rows);
    if (!Number.isFinite(std)) throw new InvalidInputError(`feature ${feature}: the training values must be finite numbers`);
    return { feature, log1p: false, center: mean, scale: std > 0 ? std : 1 };
  });
  return { format: TRANSFORM_FORMAT, kind: 'standard', features };
}

/**
 * The transform of `kind`. `fixed` never reads `x` (it is data-independent by construction); `standard` fits on
 * `x` (rows × the set's inputs, row-major), which must be the training split only.
 */
export function fitTransform(
  kind: TransformKind,
  x: ArrayLike<number>,
  rows: number,
  set: FeatureSet = HANDBOOK_FEATURE_SET,
  options: { pairwise?: boolean } = {},
): TransformSpec {
  const pairwise = options.pairwise ? { pairwise: { bound: PAIRWISE_BOUND } } : {};
  if (kind === 'fixed') return { ...fixedTransform(set), ...pairwise };
  if (kind === 'standard') {
    checkMatrix(x, rows, set.names.length);
    return { ...standardTransform(x, rows, set.names), ...pairwise };
  }
  throw new InvalidInputError(`transform kind = ${JSON.stringify(kind)}: it must be one of ${TRANSFORM_KINDS.join(', ')}`);
}

/** Transformed inputs (rows × transformWidth, row-major, float32 for the model); throws when a result is not finite. */
export function applyTransform(spec: TransformSpec, x: ArrayLike<number>, rows: number): Float32Array {
  const width = spec.features.length;
  checkMatrix(x, rows, width);
  const out = new Float32Array(rows * width);
  for (let j = 0; j < width; j++) {
    const { log1p, center, scale } = spec.features[j];
    for (let k = j; k < out.length; k += width) out[k] = ((log1p ? Math.log1p(x[k]) : x[k]) - center) / scale;
  }
  // x·0 is 0 for finite x and NaN otherwise: one branch-free pass, then a search only on failure.
  let probe = 0;
  for (let k = 0; k < out.length; k++) probe += out[k] * 0;
  if (probe !== 0) {
    const bad = out.findIndex((value) => !Number.isFinite(value));
    const row = Math.floor(bad / width);
    const { feature, log1p } = spec.features[bad - row * width];
    throw new InvalidInputError(
      `row ${row}, ${feature} = ${x[bad]}: features must be finite${log1p ? ' and > -1 (log1p)' : ''}, the transformed value is ${out[bad]}`,
    );
  }
  return spec.pairwise ? withPairwiseProducts(out, rows, width, spec.pairwise.bound) : out;
}

/** Each row's inputs, then u_i·u_j for i ≤ j (u = inputs clamped to ±bound, over bound): rows × transformWidth. */
function withPairwiseProducts(inputs: Float32Array, rows: number, d: number, bound: number): Float32Array {
  const width = widthWithProducts(d);
  const out = new Float32Array(rows * width);
  const u = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const row = inputs.subarray(r * d, (r + 1) * d);
    let k = r * width;
    out.set(row, k);
    k += d;
    for (let j = 0; j < d; j++) u[j] = Math.max(-bound, Math.min(bound, row[j])) / bound;
    for (let i = 0; i < d; i++) for (let j = i; j < d; j++) out[k++] = u[i] * u[j];
  }
  return out;
}

/** The privacy treatment of the transform, in one sentence. */
export function describeTransform(spec: TransformSpec): string {
  const products = spec.pairwise ? `; then the pairwise products of the inputs clamped to ±${spec.pairwise.bound} (a public constant)` : '';
  if (spec.kind !== 'fixed') return `fitted on the training data without DP noise: NOT covered by the privacy guarantee${products}`;
  return spec.basis === 'bounds'
    ? `data-independent: each input mapped from its declared public bounds (records.bounds, column ranges), no statistics of the data${products}`
    : `data-independent: standardised with analytic moments of the simulator's published parameters, no statistics of the data${products}`;
}

/** The transform as a preprocessing step of the privacy report. */
export function transformStep(spec: TransformSpec): PreprocessingStep {
  return {
    name: `feature transform (${spec.kind})`,
    treatment: spec.kind === 'fixed' ? 'data-independent' : 'not-private',
    description: describeTransform(spec),
  };
}

/**
 * Checks a transform read back from JSON against the feature set it transforms. A `fixed` spec must equal
 * fixedTransform(set) exactly, so that the label "data-independent" can only be carried by the documented constants.
 */
export function parseTransformSpec(value: unknown, set: FeatureSet = HANDBOOK_FEATURE_SET): TransformSpec {
  const spec = value as TransformSpec;
  if (typeof spec !== 'object' || spec === null || spec.format !== TRANSFORM_FORMAT) {
    throw new InvalidInputError(`transform spec: format must be "${TRANSFORM_FORMAT}"`);
  }
  if (!TRANSFORM_KINDS.includes(spec.kind)) {
    throw new InvalidInputError(`transform spec: kind = ${JSON.stringify(spec.kind)} must be one of ${TRANSFORM_KINDS.join(', ')}`);
  }
  const names = set.names;
  if (!Array.isArray(spec.features) || spec.features.length !== names.length) {
    throw new InvalidInputError(`transform spec: features must list the ${names.length} inputs of the feature set in its order`);
  }
  spec.features.forEach((entry, j) => {
    const where = `transform spec: features[${j}]`;
    if (entry?.feature !== names[j])
      throw new InvalidInputError(`${where}.feature = ${JSON.stringify(entry?.feature)}: expected ${names[j]}`);
    if (typeof entry.log1p !== 'boolean') throw new InvalidInputError(`${where}.log1p must be a boolean`);
    if (!Number.isFinite(entry.center)) throw new InvalidInputError(`${where}.center = ${entry.center}: must be a finite number`);
    if (!(Number.isFinite(entry.scale) && entry.scale > 0))
      throw new InvalidInputError(`${where}.scale = ${entry.scale}: must be a finite number > 0`);
  });
  if (spec.kind === 'fixed') {
    const expected = fixedTransform(set).features;
    const j = spec.features.findIndex(
      (e, i) => e.log1p !== expected[i].log1p || e.center !== expected[i].center || e.scale !== expected[i].scale,
    );
    if (j >= 0) {
      throw new InvalidInputError(
        `transform spec: features[${j}] (${names[j]}) differs from the documented fixed constants; kind "fixed" must equal fixedTransform()`,
      );
    }
  }
  if (spec.pairwise !== undefined && (typeof spec.pairwise !== 'object' || spec.pairwise?.bound !== PAIRWISE_BOUND)) {
    throw new InvalidInputError(
      `transform spec: pairwise = ${JSON.stringify(spec.pairwise)}: it must be absent or { "bound": ${PAIRWISE_BOUND} } (PAIRWISE_BOUND)`,
    );
  }
  return {
    format: TRANSFORM_FORMAT,
    kind: spec.kind,
    ...(spec.kind === 'fixed' ? { basis: set.moments } : {}),
    features: spec.features.map(({ feature, log1p, center, scale }) => ({ feature, log1p, center, scale })),
    ...(spec.pairwise ? { pairwise: { bound: PAIRWISE_BOUND } } : {}),
  };
}
