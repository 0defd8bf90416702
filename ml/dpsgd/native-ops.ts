// The few TensorFlow ops the trainer calls by name on the native backend (tfjs-node), where TensorFlow.js has no
// direct kernel for them, each with its TensorFlow.js composite elsewhere (wasm, cpu). Measured on the bench MLP:
// tfjs-node runs tf.matMul as BatchMatMulV2, ~100 µs a call at batch 512 against ~15–30 µs for the 2-D MatMul; ReluGrad
// and EuclideanNorm each replace two or three elementwise passes by one.
import { tf } from '../tensorflow';

interface OpAttribute {
  name: string;
  type: number;
  value: unknown;
}

/** The part of tfjs-node's backend that runs a TensorFlow op by name (the result is tracked like any tensor). */
interface NativeBackend {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_BOOL: number; TF_FLOAT: number; TF_INT32: number };
  executeSingleOutput(name: string, attrs: OpAttribute[], inputs: tf.Tensor[]): tf.Tensor2D;
}

function nativeBackend(): NativeBackend | null {
  if (tf.getBackend() !== 'tensorflow') return null;
  const backend = tf.backend() as unknown as Partial<NativeBackend>;
  return backend.executeSingleOutput && backend.binding ? (backend as NativeBackend) : null;
}

const typeAttribute = (backend: NativeBackend, name: string, type: number): OpAttribute => ({
  name,
  type: backend.binding.TF_ATTR_TYPE,
  value: type,
});

/**
 * a·b of float32 matrices, either transposed. With transposeA it stays on tf.matMul (BatchMatMulV2): the 2-D MatMul
 * with transpose_a in this libtensorflow (2.9.1, oneDNN) corrupted the heap here (glibc "corrupted size vs.
 * prev_size" at exit, reproducible under node --cpu-prof), with transpose_b or none it did not.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false): tf.Tensor2D {
  const backend = transposeA ? null : nativeBackend();
  if (!backend) return tf.matMul(a, b, transposeA, transposeB);
  const { TF_ATTR_BOOL, TF_FLOAT } = backend.binding;
  return backend.executeSingleOutput(
    'MatMul',
    [
      { name: 'transpose_a', type: TF_ATTR_BOOL, value: transposeA },
      { name: 'transpose_b', type: TF_ATTR_BOOL, value: transposeB },
      typeAttribute(backend, 'T', TF_FLOAT),
    ],
    [a, b],
  );
}

/** dy where y = relu(z) > 0, else 0. */
export function reluGradient(dy: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor2D {
  const backend = nativeBackend();
  if (!backend) return tf.mul(dy, tf.step(y));
  return backend.executeSingleOutput('ReluGrad', [typeAttribute(backend, 'T', backend.binding.TF_FLOAT)], [dy, y]);
}

/** ‖row‖ of each row of m, B×1. */
export function rowNorms(m: tf.Tensor2D): tf.Tensor2D {
  const backend = nativeBackend();
  if (!backend) return tf.sqrt(tf.sum<tf.Tensor2D>(tf.square(m), 1, true));
  const { TF_ATTR_BOOL, TF_FLOAT, TF_INT32 } = backend.binding;
  return backend.executeSingleOutput(
    'EuclideanNorm',
    [
      { name: 'keep_dims', type: TF_ATTR_BOOL, value: true },
      typeAttribute(backend, 'T', TF_FLOAT),
      typeAttribute(backend, 'Tidx', TF_INT32),
    ],
    [m, tf.scalar(1, 'int32')],
  );
}
