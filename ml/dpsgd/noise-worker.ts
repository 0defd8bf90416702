// A worker thread that samples the discrete Gaussian ahead of the trainer: the noise of a step does not depend on the
// data, so the next vectors are drawn on another core while TensorFlow computes the current gradient. Vectors pass
// through a ring of SLOTS slots in shared memory, synchronised with Atomics (the trainer's step() is synchronous).
// The key never leaves the worker (unless a test seeded it); a dead worker hands over to inline sampling.
import { Worker } from 'node:worker_threads';
import { CryptoStream } from './csprng';
import { DiscreteGaussian } from './discrete-gaussian';
import type { NoiseKey, NoiseSource } from './noise';

const SLOTS = 2;
/** Indexes into the shared control words. */
const PRODUCED = 0;
const CONSUMED = 1;
const STOP = 2;
const FAILED = 3;
/** How long the trainer waits for one vector before it gives up on the worker and samples inline. */
const STALL_MS = 60_000;

interface NoiseWorkerData {
  sigma: number;
  dimension: number;
  key: NoiseKey;
  control: SharedArrayBuffer;
  values: SharedArrayBuffer;
  positions: SharedArrayBuffer;
}

/** The worker's loop: fill free slots until told to stop. */
export function runNoiseWorker(data: NoiseWorkerData): void {
  const control = new Int32Array(data.control);
  const values = new Float64Array(data.values);
  const positions = new Float64Array(data.positions);
  const stream = new CryptoStream(data.key.seed, 'noise', data.key.position ?? 0);
  const sampler = new DiscreteGaussian(data.sigma * data.sigma, 1, stream);
  const vector = new Float64Array(data.dimension);
  for (let produced = 0; ; produced++) {
    for (;;) {
      if (Atomics.load(control, STOP)) return;
      const consumed = Atomics.load(control, CONSUMED);
      if (produced - consumed < SLOTS) break;
      Atomics.wait(control, CONSUMED, consumed);
    }
    vector.fill(0);
    sampler.addTo(vector);
    const slot = produced % SLOTS;
    values.set(vector, slot * data.dimension);
    positions[slot] = stream.position;
    Atomics.store(control, PRODUCED, produced + 1);
    Atomics.notify(control, PRODUCED);
  }
}

/** Starts the worker through tsx (no build step); any failure there is flagged in shared memory, not lost. */
function bootstrap(): string {
  return `
    const { workerData } = require('node:worker_threads');
    const control = new Int32Array(workerData.control);
    try {
      require(${JSON.stringify(require.resolve('tsx/cjs'))});
      require(${JSON.stringify(__filename)}).runNoiseWorker(workerData);
    } catch (err) {
      Atomics.store(control, ${FAILED}, 1);
      Atomics.notify(control, ${PRODUCED});
      throw err;
    }`;
}

export class WorkerNoise implements NoiseSource {
  private readonly worker: Worker;
  private readonly control: Int32Array;
  private readonly values: Float64Array;
  private readonly positions: Float64Array;
  private consumed = 0;
  private consumedPosition: number;
  private fallback: NoiseSource | null = null;

  constructor(
    sigma: number,
    private readonly dimension: number,
    key: NoiseKey,
    private readonly inline: (position: number) => NoiseSource,
  ) {
    const data: NoiseWorkerData = {
      sigma,
      dimension,
      key,
      control: new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT),
      values: new SharedArrayBuffer(SLOTS * dimension * Float64Array.BYTES_PER_ELEMENT),
      positions: new SharedArrayBuffer(SLOTS * Float64Array.BYTES_PER_ELEMENT),
    };
    this.control = new Int32Array(data.control);
    this.values = new Float64Array(data.values);
    this.positions = new Float64Array(data.positions);
    this.consumedPosition = key.position ?? 0;
    this.worker = new Worker(bootstrap(), { eval: true, workerData: data, execArgv: [], stdout: false, stderr: false });
    this.worker.on('error', () => Atomics.store(this.control, FAILED, 1));
    this.worker.unref();
  }

  addTo(values: Float64Array): void {
    if (!this.fallback && !this.awaitVector()) {
      this.stop();
      this.fallback = this.inline(this.consumedPosition);
    }
    if (this.fallback) {
      this.fallback.addTo(values);
      return;
    }
    const slot = this.consumed % SLOTS;
    const from = slot * this.dimension;
    for (let j = 0; j < values.length; j++) values[j] += this.values[from + j];
    this.consumedPosition = this.positions[slot];
    this.consumed++;
    Atomics.store(this.control, CONSUMED, this.consumed);
    Atomics.notify(this.control, CONSUMED);
  }

  get position(): number {
    return this.fallback ? this.fallback.position : this.consumedPosition;
  }

  dispose(): void {
    this.stop();
    this.fallback?.dispose();
  }

  /** Blocks until the next vector is ready; false when the worker failed or stalled. */
  private awaitVector(): boolean {
    const deadline = performance.now() + STALL_MS;
    for (;;) {
      if (Atomics.load(this.control, PRODUCED) > this.consumed) return true;
      if (Atomics.load(this.control, FAILED) || performance.now() > deadline) return false;
      Atomics.wait(this.control, PRODUCED, this.consumed, 100);
    }
  }

  private stop(): void {
    Atomics.store(this.control, STOP, 1);
    Atomics.notify(this.control, CONSUMED);
    void this.worker.terminate();
  }
}
