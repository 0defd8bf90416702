// The GPU worker's decision to serve the GPU queue (workers/gpu-device.ts): on a GPU, with --allow-cpu on the CPU,
// else not at all; and the probe that finds out, run for real in a child process on this GPU-less host.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../../config';
import {
  ALLOWED_CPU_DEVICE,
  cudaErrorFromTensorflowLog,
  type GpuProbe,
  gpuNameFromTensorflowLog,
  gpuServing,
  probeGpu,
} from '../../workers/gpu-device';

const ON_GPU: GpuProbe = { unusable: null, deviceName: 'NVIDIA H100 80GB HBM3' };
const NO_GPU: GpuProbe = { unusable: 'TensorFlow lists no GPU device', deviceName: null };

describe('the GPU worker serving decision', () => {
  it('serves on the GPU when TensorFlow lists one, and names it in TrainDevice', () => {
    for (const allowCpu of [false, true]) {
      const serving = gpuServing(ON_GPU, allowCpu);
      assert.ok(serving.serve);
      assert.equal(serving.backend, 'gpu');
      assert.equal(serving.trainDevice, 'gpu:NVIDIA H100 80GB HBM3');
    }
    const unnamed = gpuServing({ unusable: null, deviceName: null }, false);
    assert.ok(unnamed.serve && unnamed.trainDevice === 'gpu:GPU:0');
  });

  it('refuses without a usable GPU, saying why and how to allow the CPU', () => {
    const serving = gpuServing(NO_GPU, false);
    assert.equal(serving.serve, false);
    assert.match(serving.message, /no usable GPU: TensorFlow lists no GPU device/);
    assert.match(serving.message, /--allow-cpu/);
  });

  it('with --allow-cpu serves on the CPU backend and says so in TrainDevice and the message', () => {
    const serving = gpuServing(NO_GPU, true);
    assert.ok(serving.serve);
    assert.equal(serving.backend, 'cpu');
    assert.equal(serving.trainDevice, ALLOWED_CPU_DEVICE);
    assert.equal(ALLOWED_CPU_DEVICE, 'cpu (gpu worker, --allow-cpu)');
    assert.match(serving.message, /CPU backend.*--allow-cpu/);
  });
});

describe("TensorFlow's device log", () => {
  it('gives the name of the GPU device TensorFlow created', () => {
    const log =
      'I0000 00:00:1712 gpu_device.cc:2022] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 79078 MB memory:' +
      '  -> device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 0000:00:07.0, compute capability: 9.0\n';
    assert.equal(gpuNameFromTensorflowLog(log), 'NVIDIA H100 80GB HBM3');
    assert.equal(gpuNameFromTensorflowLog('I0000 cpu_feature_guard.cc:227] This TensorFlow binary is optimized'), null);
  });

  it("gives TensorFlow's CUDA error", () => {
    const log =
      'I0000 00:00:17 port.cc:153] oneDNN custom operations are on.\n' +
      'E0000 00:00:1796570053.492051    3290 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n';
    assert.equal(
      cudaErrorFromTensorflowLog(log),
      'failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)',
    );
    assert.equal(cudaErrorFromTensorflowLog('I0000 00:00:17 port.cc:153] oneDNN custom operations are on.'), null);
  });
});

describe('the GPU probe', () => {
  it('finds no usable GPU on a host without an NVIDIA device, and says why', async () => {
    const probe = await probeGpu();
    if (existsSync('/dev/nvidiactl')) return; // a GPU host: either verdict is possible
    assert.equal(typeof probe.unusable, 'string');
    assert.match(probe.unusable as string, /tfjs-node-gpu/);
  });
});

describe('stack/install-tfjs-node.sh --variant gpu --dry-run', () => {
  const script = path.join(projectRoot(), 'stack', 'install-tfjs-node.sh');
  const dryRun = (...args: string[]) =>
    spawnSync('bash', [script, ...args, projectRoot(), path.join(projectRoot(), '.stack', 'no-such-cache')], {
      encoding: 'utf8',
      timeout: 60_000,
    });

  // Asks PyPI (pip index versions, about 1 s) whether the CUDA wheel exists for this platform; downloads nothing.
  it("checks the CUDA binding's inputs: the npm package and its binding.gyp, the toolchain, the wheel on PyPI", () => {
    const run = dryRun('--variant', 'gpu', '--dry-run');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /@tensorflow\/tfjs-node-gpu 4\.22\.0 with binding\.gyp/);
    assert.match(run.stderr, /PyPI has a tensorflow==[\d.]+ wheel for this platform/);
    assert.match(run.stderr, /dry run OK/);
  });

  it('refuses an unknown variant', () => {
    const run = dryRun('--variant', 'tpu', '--dry-run');
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /--variant must be cpu or gpu, got 'tpu'/);
  });
});
