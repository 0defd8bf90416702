// Whether the GPU worker may serve the GPU queue here, and what it reports as TrainDevice.
// A usable GPU means the CUDA binding (@tensorflow/tfjs-node-gpu) loads AND TensorFlow lists a GPU device, which
// a child process checks (selectBackend('gpu')): CUDA initialises there, not in the worker, and a broken driver
// or library cannot take the worker down. Run as a script, this file is that child.
import { execFile } from 'node:child_process';
import { selectBackend } from '../ml/tensorflow';

export interface GpuProbe {
  /** null when TensorFlow lists a GPU device; otherwise why the GPU backend cannot be used here. */
  unusable: string | null;
  /** The device TensorFlow created ("NVIDIA H100 80GB HBM3"), when its log said. */
  deviceName: string | null;
}

export type GpuServing =
  | {
      serve: true;
      /** The TensorFlow backend the training jobs take: the CUDA binding, or the worker's configured CPU backend. */
      backend: 'gpu' | 'cpu';
      /** The TrainDevice search attribute of the runs it trains. */
      trainDevice: string;
      message: string;
    }
  | { serve: false; message: string };

/** TrainDevice of a run the GPU worker trained on the CPU because it was started with --allow-cpu. */
export const ALLOWED_CPU_DEVICE = 'cpu (gpu worker, --allow-cpu)';

/** Serve on the GPU when there is one; without one, serve on the CPU only when allowed, else refuse. */
export function gpuServing(probe: GpuProbe, allowCpu: boolean): GpuServing {
  if (probe.unusable === null) {
    const name = probe.deviceName ?? 'GPU:0';
    return { serve: true, backend: 'gpu', trainDevice: `gpu:${name}`, message: `training on the GPU ${name} (libtensorflow with CUDA)` };
  }
  if (!allowCpu) {
    return {
      serve: false,
      message:
        `the GPU worker found no usable GPU: ${probe.unusable}. It serves the GPU queue only on a GPU; ` +
        'start it with --allow-cpu to train on the CPU backend instead (development and tests)',
    };
  }
  return {
    serve: true,
    backend: 'cpu',
    trainDevice: ALLOWED_CPU_DEVICE,
    message: `no usable GPU (${probe.unusable}): training on the CPU backend, as --allow-cpu allows`,
  };
}

/** The GPU name in TensorFlow's "Created device .../device:GPU:0 with N MB memory: -> device: 0, name: X, pci bus id: …". */
export function gpuNameFromTensorflowLog(log: string): string | null {
  return /Created device \S*GPU:\d+ .*?\bname: ([^,\n]+),/.exec(log)?.[1].trim() ?? null;
}

/** TensorFlow's first error line about CUDA ("failed call to cuInit: …"), when there is one. */
export function cudaErrorFromTensorflowLog(log: string): string | null {
  return /^E[\d ]+[^\]]*\] (.*(?:cuInit|CUDA|cuda|libcud).*)$/m.exec(log)?.[1].trim() ?? null;
}

const PROBE_TIMEOUT_MS = 120_000; // the first CUDA initialisation on a fresh host can take tens of seconds

/** Runs this file as a child process and reads its verdict (stdout) and TensorFlow's device log (stderr). */
export function probeGpu(): Promise<GpuProbe> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--require', require.resolve('tsx/cjs'), __filename],
      // INFO level: TensorFlow logs the device it created, with its name.
      { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0' }, timeout: PROBE_TIMEOUT_MS, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const deviceName = gpuNameFromTensorflowLog(stderr);
        try {
          const { unusable } = JSON.parse(stdout) as { unusable: string | null };
          const cudaError = cudaErrorFromTensorflowLog(stderr);
          resolve({ unusable: unusable && cudaError ? `${unusable}; TensorFlow said: ${cudaError}` : unusable, deviceName });
        } catch {
          const lastLine = stderr.trim().split('\n').at(-1) ?? '';
          resolve({
            unusable: `the GPU probe process failed (${error?.message.split('\n')[0] ?? 'no verdict'}): ${lastLine}`,
            deviceName: null,
          });
        }
      },
    );
  });
}

if (require.main === module) {
  selectBackend('gpu', () => undefined).then(
    () => process.stdout.write(JSON.stringify({ unusable: null })),
    (err: Error) => process.stdout.write(JSON.stringify({ unusable: err.message.split('\n')[0] })),
  );
}
