// The hyper-parameter search space of `tuning.space` (config.yaml) and the random-search sampler over it. A search on
// public data samples deterministically (ml/random.ts's xoshiro keyed by a hash of the search's id), so the tuning
// workflow can sample in its own code and replay the same candidates; a search on private data samples from a secret
// source (Papernot & Steinke need each trial to draw its own candidate: a public order would name the best's index).
import type { ExperimentOptions, ModelFamily } from '../experiment';
import { Rng } from '../random';

/** The ExperimentOptions a search may set; every other option is the pipeline's (pipeline.training, privacy). */
export const TUNABLE_KEYS = [
  'family',
  'learningRate',
  'epochs',
  'clipNorm',
  'samplingRate',
  'hidden',
  'optimizer',
  'averaging',
  'emaDecay',
  'clipping',
  'balance',
  'ebm.rounds',
  'ebm.learningRate',
  'ebm.bins',
  'ebm.maxLeaves',
] as const;
export type TunableKey = (typeof TUNABLE_KEYS)[number];

/** The DP-SGD trainer's keys (logistic, quadratic and mlp); the EBM's are its own `ebm.*` settings (ml/ebm/family.ts). */
const SGD_KEYS: readonly TunableKey[] = [
  'learningRate',
  'epochs',
  'clipNorm',
  'samplingRate',
  'optimizer',
  'averaging',
  'emaDecay',
  'clipping',
  'balance',
];
/** Which keys change a family's training: the others are ignored by it, so a per-family search leaves them out. */
export const FAMILY_KEYS: Readonly<Record<ModelFamily, readonly TunableKey[]>> = {
  logistic: SGD_KEYS,
  quadratic: SGD_KEYS,
  mlp: [...SGD_KEYS, 'hidden'],
  ebm: ['ebm.rounds', 'ebm.learningRate', 'ebm.bins', 'ebm.maxLeaves'],
};

export type TunableValue = string | number | number[];
/** One key's range: a list of choices, or a log-uniform interval [lo, hi] (numbers, lo > 0). */
export type Dimension = TunableValue[] | { 'log-uniform': [number, number] };
export type SearchSpace = Partial<Record<TunableKey, Dimension>>;
/** One candidate: a value per key of the space. */
export type Candidate = Partial<Record<TunableKey, TunableValue>>;

/** Keys whose values are whole numbers: a log-uniform draw is rounded. */
const INTEGER_KEYS: ReadonlySet<TunableKey> = new Set(['epochs', 'ebm.rounds', 'ebm.bins', 'ebm.maxLeaves']);

/** A 53-bit FNV-1a style hash of a text: the sampler's key from the search's id. */
export function textSeed(text: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  return (h1 & 0x1fffff) * 2 ** 32 + h2;
}

/** Where a sampler's draws come from: a seeded Rng, or a secret source (secureSource). */
export type UniformSource = Pick<Rng, 'uniformInt' | 'uniformRange'>;

function draw(rng: UniformSource, key: TunableKey, dimension: Dimension): TunableValue {
  if (Array.isArray(dimension)) return dimension[rng.uniformInt(dimension.length)];
  const [lo, hi] = dimension['log-uniform'];
  const value = Math.exp(rng.uniformRange(Math.log(lo), Math.log(hi)));
  // Four significant digits: readable in MLflow and the CLI, far finer than the search can resolve.
  return INTEGER_KEYS.has(key) ? Math.round(value) : Number(value.toPrecision(4));
}

/**
 * `count` candidates drawn independently and uniformly (choices) or log-uniformly (intervals), keys in TUNABLE_KEYS
 * order. The same space, count and seed give the same candidates (a UniformSource: whatever it draws). Duplicates
 * are kept: with few choices they are
 * likely, and each trial still measures a fresh training run.
 */
export function sampleCandidates(space: SearchSpace, count: number, seed: number | UniformSource): Candidate[] {
  const rng = typeof seed === 'number' ? new Rng([seed, 0x7475]) : seed;
  const keys = TUNABLE_KEYS.filter((key) => space[key] !== undefined);
  return Array.from({ length: count }, () => Object.fromEntries(keys.map((key) => [key, draw(rng, key, space[key] as Dimension)])));
}

/** Why a dimension is not usable, or undefined when it is (config validation names the key with it). */
export function dimensionProblem(key: TunableKey, dimension: Dimension): string | undefined {
  if (Array.isArray(dimension)) return dimension.length ? undefined : 'needs at least one choice';
  const [lo, hi] = dimension['log-uniform'];
  if (key === 'family' || key === 'hidden' || typeof lo !== 'number') return 'log-uniform needs a numeric key';
  if (!(lo > 0 && hi >= lo && Number.isFinite(hi))) return `log-uniform [${lo}, ${hi}] needs 0 < lo <= hi`;
  return undefined;
}

/** A candidate as MLflow params / a one-line label ("family=mlp learningRate=0.02 hidden=[16]"). */
export function describeCandidate(candidate: Candidate): string {
  return Object.entries(candidate)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? `[${value.join(',')}]` : value}`)
    .join(' ');
}

/** The space of one family's search: family fixed to it, and only the keys that change its training. */
export function familySpace(space: SearchSpace, family: ModelFamily): SearchSpace {
  const kept = Object.entries(space).filter(([key]) => (FAMILY_KEYS[family] as readonly string[]).includes(key));
  return { family: [family], ...Object.fromEntries(kept) };
}

/** The training options of a candidate: its keys over `base`, its `ebm.*` keys merged into base.ebm. */
export function candidateOptions<T extends object>(base: T, candidate: Candidate): T {
  const options = { ...base } as Record<string, unknown>;
  const ebm: Record<string, unknown> = { ...(base as Pick<ExperimentOptions, 'ebm'>).ebm };
  for (const [key, value] of Object.entries(candidate)) {
    if (key.startsWith('ebm.')) ebm[key.slice('ebm.'.length)] = value;
    else options[key] = value;
  }
  if (Object.keys(ebm).length) options.ebm = ebm;
  return options as T;
}
