// The one place that chooses TensorFlow.js's backend (FRAUDOPS_TF_BACKEND / tensorflow.backend):
// `tensorflow` is the native libtensorflow binding, `wasm` the portable one, `cpu` plain JS.
import * as tf from '@tensorflow/tfjs';

export type TfBackend = 'tensorflow' | 'wasm' | 'cpu';
export type TfBackendRequest = TfBackend | 'auto';

export { tf };

function loadNative(): void {
  // Registers the 'tensorflow' backend; throws when the native binding is missing or broken.
  require('@tensorflow/tfjs-node');
}

/** The CUDA build of the native binding (GPU hosts only); it registers the same 'tensorflow' backend. */
export async function selectGpuBackend(log: (line: string) => void = console.error): Promise<'tensorflow'> {
  require('@tensorflow/tfjs-node-gpu');
  if (!(await tf.setBackend('tensorflow'))) throw new Error('TensorFlow.js GPU backend failed to initialise');
  await tf.ready();
  log('tensorflow backend: tensorflow (libtensorflow with CUDA: GPU)');
  return 'tensorflow';
}

function loadWasm(): void {
  require('@tensorflow/tfjs-backend-wasm');
}

async function activate(backend: TfBackend): Promise<void> {
  if (backend === 'tensorflow') loadNative();
  if (backend === 'wasm') loadWasm();
  if (!(await tf.setBackend(backend))) throw new Error(`TensorFlow.js backend "${backend}" failed to initialise`);
  await tf.ready();
}

/**
 * Activates the requested backend; `auto` takes the native one when it loads, else wasm.
 * Logs which backend it took and why.
 */
export async function selectBackend(requested: TfBackendRequest, log: (line: string) => void = console.error): Promise<TfBackend> {
  if (requested !== 'auto') {
    await activate(requested);
    log(`tensorflow backend: ${requested} (requested)`);
    return requested;
  }
  try {
    await activate('tensorflow');
    log('tensorflow backend: tensorflow (native libtensorflow)');
    return 'tensorflow';
  } catch (err) {
    await activate('wasm');
    log(`tensorflow backend: wasm (native backend unavailable: ${(err as Error).message.split('\n')[0]})`);
    return 'wasm';
  }
}
