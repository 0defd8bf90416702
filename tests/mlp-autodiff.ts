// Brute-force gradients for the DP-SGD tests: one example's loss differentiated by tf autodiff through ordinary dense
// layers, to check the trainer's manual backward pass and its per-example and per-card clipping against.
import type { LayerShape } from '../ml/dpsgd/mlp';
import { tf } from '../ml/tensorflow';

/** ∇ of w·(softplus(z) − y·z) at input `row`, for the MLP whose parameters are `flat` (the trainer's flat layout). */
export function autodiffGradient(flat: ArrayLike<number>, shapes: LayerShape[], row: number[], y: number, w: number): Float64Array {
  const params = Float32Array.from(flat);
  const gradient = tf.tidy(() => {
    const variables = shapes.flatMap(({ inputs, outputs, offset }) => [
      tf.tensor2d(params.subarray(offset, offset + inputs * outputs), [inputs, outputs]),
      tf.tensor1d(params.subarray(offset + inputs * outputs, offset + (inputs + 1) * outputs)),
    ]);
    const loss = (...vars: tf.Tensor[]) => {
      let a: tf.Tensor = tf.tensor2d([row]);
      for (let l = 0; l < shapes.length; l++) {
        a = tf.add(tf.matMul(a as tf.Tensor2D, vars[2 * l] as tf.Tensor2D), vars[2 * l + 1]);
        if (l < shapes.length - 1) a = tf.relu(a);
      }
      return tf.mul(w, tf.sub(tf.softplus(a), tf.mul(y, a))).sum() as tf.Scalar;
    };
    return tf.concat(
      tf
        .grads(loss)(variables)
        .map((g) => g.reshape([-1])),
    );
  });
  const values = Float64Array.from(gradient.dataSync());
  gradient.dispose();
  return values;
}
