// A trained MLP's parameters as one S3 object (the train step writes it, the evaluate step reads it).
import { decodeArrays, encodeArrays, type StoredArray } from '../dataset/arrays';
import type { MlpParameters } from '../ml/dpsgd';

export function encodeModel(model: MlpParameters): Buffer {
  const arrays: Record<string, StoredArray> = {};
  model.layers.forEach(({ weights, bias }, l) => {
    arrays[`w${l}`] = weights;
    arrays[`b${l}`] = bias;
  });
  return encodeArrays(arrays, { inputs: model.inputs, hidden: model.hidden });
}

export function decodeModel(bytes: Uint8Array): MlpParameters {
  const { meta, arrays } = decodeArrays<Pick<MlpParameters, 'inputs' | 'hidden'>>(bytes);
  const layers = Array.from({ length: meta.hidden.length + 1 }, (_, l) => ({
    weights: arrays[`w${l}`] as Float32Array,
    bias: arrays[`b${l}`] as Float32Array,
  }));
  return { ...meta, layers };
}
