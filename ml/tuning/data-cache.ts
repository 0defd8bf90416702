// A worker-local disk cache of the public tuning splits: every trial of a search reads the same simulations (seeds
// × customers × days, featurised and split to the same protocol shape), which cost seconds each to rebuild, longer
// than a small model takes to train. Entries are content-addressed: the key hashes the simulation parameters, the
// protocol shape and the source of the code that builds them, so a changed simulator or feature builder never reads
// an old entry. Public data only (nobody's records), so a copy on the worker's disk exposes nothing.
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { SplitFeatures } from '../experiment';
import type { ProtocolOptions } from '../protocol';
import { type PublicDataSpec, simulatedTransactions } from './public-data';
import { tuningSplits } from './splits';

/** Bump when the entry's layout changes without a change in the hashed sources. */
const FORMAT = 1;

/** The directory of the cache: FRAUDOPS_TUNING_CACHE, else fraudops-tuning-data in the system's temporary directory. */
export const defaultCacheDir = (env: NodeJS.ProcessEnv = process.env) =>
  env.FRAUDOPS_TUNING_CACHE || path.join(tmpdir(), 'fraudops-tuning-data');

const ML = path.join(__dirname, '..');
/** Sources whose change changes the splits: the simulator, the feature builder and split, this data's own module. */
function sourceFiles(): string[] {
  const simulator = path.join(ML, '..', 'simulator');
  const own = ['experiment.ts', 'features.ts', 'feature-set.ts', 'protocol.ts', 'tuning/public-data.ts', 'tuning/splits.ts'].map((f) =>
    path.join(ML, f),
  );
  const simulated = readdirSync(simulator)
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map((f) => path.join(simulator, f));
  return [...simulated, ...own];
}

let fingerprint: string | undefined;
/** A digest of the sources above (computed once per process). */
export function codeFingerprint(): string {
  if (!fingerprint) {
    const hash = createHash('sha256');
    for (const file of sourceFiles()) hash.update(file.slice(ML.length)).update('\0').update(readFileSync(file)).update('\0');
    fingerprint = hash.digest('hex');
  }
  return fingerprint;
}

/** JSON with object keys sorted, so that key order never changes a cache key. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The content address of one seed's splits: sha256 of the format, code fingerprint, simulation spec and shape. */
export function publicDataKey(spec: PublicDataSpec, shape: Omit<ProtocolOptions, 'trainStart'>, code = codeFingerprint()): string {
  const { seed, customers, days } = spec;
  return createHash('sha256')
    .update(canonical({ format: FORMAT, code, spec: { seed, customers, days }, shape }))
    .digest('hex');
}

export interface CachedSplits {
  splits: SplitFeatures;
  /** Whether the splits came from the cache. */
  hit: boolean;
}

/**
 * One seed's tuning splits, from `dir` when an entry exists, else built and stored (written to a unique temporary
 * name, then renamed: two trials building the same entry at once both leave a whole file). An unreadable entry is
 * rebuilt; a cache that cannot be written only costs the next trial the rebuild.
 */
export function cachedTuningSplits(
  spec: PublicDataSpec,
  shape: Omit<ProtocolOptions, 'trainStart'>,
  dir = defaultCacheDir(),
): CachedSplits {
  const file = path.join(dir, `${publicDataKey(spec, shape)}.v8`);
  try {
    return { splits: deserialize(readFileSync(file)) as SplitFeatures, hit: true };
  } catch {
    // missing or unreadable: built below
  }
  const splits = tuningSplits(simulatedTransactions(spec), shape);
  const partial = `${file}.${randomUUID()}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(partial, serialize(splits));
    renameSync(partial, file);
  } catch {
    rmSync(partial, { force: true });
  }
  return { splits, hit: false };
}
