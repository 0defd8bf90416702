// The one place that chooses TensorFlow.js's backend (FRAUDOPS_TF_BACKEND / tensorflow.backend):
// `tensorflow` is the native libtensorflow binding, `wasm` the portable one, `cpu` plain JS. `gpu`, asked for by
// the GPU worker and `bench/dpsgd.ts --backend gpu` only (never by `auto`), is the CUDA build of the native binding
// (@tensorflow/tfjs-node-gpu) and fails unless TensorFlow lists a GPU device.
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

export type TfBackend = 'tensorflow' | 'wasm' | 'cpu';
export type TfBackendRequest = TfBackend | 'auto' | 'gpu';
/** What selectBackend activated: `gpu` is TensorFlow.js's 'tensorflow' backend on a GPU device. */
export type SelectedBackend = TfBackend | 'gpu';

export { tf };

const NATIVE_PACKAGES = { tensorflow: '@tensorflow/tfjs-node', gpu: '@tensorflow/tfjs-node-gpu' } as const;
/** Both packages register the backend 'tensorflow': only the first one loaded in a process counts. */
let nativeLoaded: string | undefined;

/** How to build the CUDA binding, for the errors that say it is missing. */
const GPU_BUILD_HINT =
  'build it against the CUDA TensorFlow wheel with `bash stack/install-tfjs-node.sh --variant gpu . .stack/tfjs-node-gpu` ' +
  '(the gpu target of deploy/app/Dockerfile does)';

/**
 * The binding node-pre-gyp would load for @tensorflow/tfjs-node-gpu; throws when the package is not installed or its
 * binding is not built. Checked before require: a failed require leaves its kernels registered for 'tensorflow'.
 */
function gpuBindingPath(): string {
  let packageJson: string;
  try {
    packageJson = require.resolve(`${NATIVE_PACKAGES.gpu}/package.json`);
  } catch {
    throw new Error(`the gpu backend needs ${NATIVE_PACKAGES.gpu}, which is not installed: npm install, then ${GPU_BUILD_HINT}`);
  }
  const preGyp = require(require.resolve('@mapbox/node-pre-gyp', { paths: [path.dirname(packageJson)] }));
  const binding: string = preGyp.find(packageJson);
  if (!existsSync(binding)) {
    throw new Error(`the gpu backend needs the native binding of ${NATIVE_PACKAGES.gpu} (${binding} is missing): ${GPU_BUILD_HINT}`);
  }
  return binding;
}

function loadNative(kind: keyof typeof NATIVE_PACKAGES): void {
  const wanted = NATIVE_PACKAGES[kind];
  if (nativeLoaded && nativeLoaded !== wanted) {
    throw new Error(`${wanted} cannot load: ${nativeLoaded} already registered the 'tensorflow' backend in this process`);
  }
  if (kind === 'gpu') gpuBindingPath();
  // Registers the 'tensorflow' backend; throws when the native binding is missing or broken.
  require(wanted);
  nativeLoaded = wanted;
}

/** Whether the active 'tensorflow' backend places ops on a GPU (its binding found a GPU among TensorFlow's devices). */
function tensorflowUsesGpu(): boolean {
  const backend = tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } };
  return backend.binding?.isUsingGpuDevice?.() === true;
}

function loadWasm(): void {
  require('@tensorflow/tfjs-backend-wasm');
}

async function activate(backend: TfBackend | 'gpu'): Promise<void> {
  if (backend === 'tensorflow' || backend === 'gpu') loadNative(backend);
  if (backend === 'wasm') loadWasm();
  const name = backend === 'gpu' ? 'tensorflow' : backend;
  if (!(await tf.setBackend(name))) throw new Error(`TensorFlow.js backend "${backend}" failed to initialise`);
  await tf.ready();
  if (backend === 'gpu' && !tensorflowUsesGpu()) {
    throw new Error(
      `the gpu backend: ${NATIVE_PACKAGES.gpu} loaded, but TensorFlow lists no GPU device (no NVIDIA device or driver ` +
        'visible to this process, or a CUDA library missing: run with TF_CPP_MIN_LOG_LEVEL=0 to see what TensorFlow tried)',
    );
  }
}

/**
 * Activates the requested backend; `auto` takes the native one when it loads, else wasm. `gpu` takes the CUDA
 * binding and throws unless TensorFlow lists a GPU device: it never falls back to the CPU.
 * Logs which backend it took and why.
 */
export async function selectBackend(requested: TfBackendRequest, log: (line: string) => void = console.error): Promise<SelectedBackend> {
  if (requested === 'gpu') {
    await activate('gpu');
    log('tensorflow backend: gpu (libtensorflow with CUDA; TensorFlow lists a GPU device)');
    return 'gpu';
  }
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
