// The full trainer state as bytes: "FODPSGD1", a JSON header, the float32 parameters, the float64 optimizer state,
// the float64 iterate average (empty without averaging; absent in checkpoints written before it), then a SHA-256 of everything before it. Arrays start at multiples of 8 bytes.
import { createHash } from 'node:crypto';
import { InvalidInputError } from '../errors';
import type { OptimizerState } from './optimizer';
import type { TrainerOptions, TrainingData } from './types';

const MAGIC = Buffer.from('FODPSGD1', 'latin1');
const DIGEST_BYTES = 32;

export interface CheckpointContents {
  options: TrainerOptions;
  /** σ as planned at the start (not re-calibrated on resume); null when not private. */
  noiseMultiplier: number | null;
  /** Steps taken over all runs so far: the privacy accounting composes this many. */
  step: number;
  data: { rows: number; cols: number; fingerprint: string };
  /**
   * Bytes read from the sampling and noise streams of a run with options.insecureNoiseSeed (tests only), so a
   * resumed run continues them exactly. Null for every real run: its stream keys are secret and never stored, and a
   * resumed run draws fresh ones. Fresh noise and fresh samples are independent of everything released so far, and
   * independence is all the adaptive composition theorem needs, so the steps before and after the resume still
   * compose to the accounted (ε, δ). (options.seed is stored: it fixes only the public initialisation.)
   */
  streams: { sampling: number; noise: number } | null;
  /** Seed of the initialisation and the non-private batch order (options.seed, or drawn at the start of an unseeded run): public. */
  batchSeed: number;
  params: Float32Array;
  optimizer: OptimizerState;
  /** The EMA of the iterates (averaging 'ema'); empty otherwise. */
  average: Float64Array;
}

/** SHA-256 of the data, so a checkpoint resumes only on the data it was trained on. */
export function dataFingerprint(data: TrainingData): string {
  const hash = createHash('sha256').update(`${data.rows}x${data.cols}\n`);
  hash.update(new Uint8Array(data.x.buffer, data.x.byteOffset, data.x.byteLength));
  hash.update(data.y);
  if (data.groups) hash.update(new Uint8Array(data.groups.buffer, data.groups.byteOffset, data.groups.byteLength));
  return hash.digest('hex');
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

export function encodeCheckpoint(contents: CheckpointContents): Uint8Array {
  const { params, optimizer, average, ...rest } = contents;
  const header = Buffer.from(
    JSON.stringify({
      ...rest,
      optimizer: { updates: optimizer.updates },
      lengths: { params: params.length, first: optimizer.first.length, second: optimizer.second.length, average: average.length },
    }),
  );
  const paramsAt = align8(MAGIC.length + 4 + header.length);
  const firstAt = align8(paramsAt + params.byteLength);
  const secondAt = firstAt + optimizer.first.byteLength;
  const averageAt = secondAt + optimizer.second.byteLength;
  const digestAt = averageAt + average.byteLength;
  const bytes = new Uint8Array(digestAt + DIGEST_BYTES);
  bytes.set(MAGIC, 0);
  new DataView(bytes.buffer).setUint32(MAGIC.length, header.length, true);
  bytes.set(header, MAGIC.length + 4);
  new Float32Array(bytes.buffer, paramsAt, params.length).set(params);
  new Float64Array(bytes.buffer, firstAt, optimizer.first.length).set(optimizer.first);
  new Float64Array(bytes.buffer, secondAt, optimizer.second.length).set(optimizer.second);
  new Float64Array(bytes.buffer, averageAt, average.length).set(average);
  bytes.set(createHash('sha256').update(bytes.subarray(0, digestAt)).digest(), digestAt);
  return bytes;
}

function corrupt(reason: string): never {
  throw new InvalidInputError(`checkpoint is not a DP-SGD trainer checkpoint: ${reason}`);
}

export function decodeCheckpoint(input: Uint8Array): CheckpointContents {
  if (!(input instanceof Uint8Array)) corrupt('expected a Uint8Array');
  const bytes = new Uint8Array(input); // an aligned copy
  if (bytes.length < MAGIC.length + 4 + DIGEST_BYTES || !MAGIC.equals(bytes.subarray(0, MAGIC.length))) corrupt('bad magic bytes');
  const digestAt = bytes.length - DIGEST_BYTES;
  const digest = createHash('sha256').update(bytes.subarray(0, digestAt)).digest();
  if (!digest.equals(bytes.subarray(digestAt))) corrupt('checksum mismatch (truncated or modified)');
  const headerLength = new DataView(bytes.buffer).getUint32(MAGIC.length, true);
  const { lengths, optimizer, ...rest } = JSON.parse(
    Buffer.from(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + headerLength)).toString(),
  );
  const paramsAt = align8(MAGIC.length + 4 + headerLength);
  const firstAt = align8(paramsAt + 4 * lengths.params);
  const secondAt = firstAt + 8 * lengths.first;
  const averageAt = secondAt + 8 * lengths.second;
  const averageLength = lengths.average ?? 0;
  if (averageAt + 8 * averageLength !== digestAt) corrupt('section lengths do not add up');
  return {
    ...rest,
    params: new Float32Array(bytes.buffer, paramsAt, lengths.params),
    optimizer: {
      updates: optimizer.updates,
      first: new Float64Array(bytes.buffer, firstAt, lengths.first),
      second: new Float64Array(bytes.buffer, secondAt, lengths.second),
    },
    average: new Float64Array(bytes.buffer, averageAt, averageLength),
  };
}
