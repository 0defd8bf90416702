// A trained model as one S3 object (the train step writes it, the evaluate step reads it): an MLP's parameters as
// arrays, or an EBM's JSON (ml/ebm/model.ts) together with what its training spent, so that a retry finding the model
// already written returns the same outcome instead of training (and drawing noise) again.
import { decodeArrays, encodeArrays, type StoredArray } from '../dataset/arrays';
import { type MlpParameters, type PrivacySpent, predictMlp } from '../ml/dpsgd';
import { EBM_FORMAT, type EbmModel, predictEbm } from '../ml/ebm';

/** What an EBM's training spent and rests on (TrainJobOutcome's spent and assumptions). */
export interface EbmTrainingRecord {
  spent: PrivacySpent | null;
  assumptions: string[];
}

type MlpMeta = Pick<MlpParameters, 'inputs' | 'hidden'>;
type EbmMeta = { ebm: EbmModel; record: EbmTrainingRecord };

export function encodeModel(model: MlpParameters): Buffer {
  const arrays: Record<string, StoredArray> = {};
  model.layers.forEach(({ weights, bias }, l) => {
    arrays[`w${l}`] = weights;
    arrays[`b${l}`] = bias;
  });
  return encodeArrays(arrays, { inputs: model.inputs, hidden: model.hidden } satisfies MlpMeta);
}

export function encodeEbmModel(model: EbmModel, record: EbmTrainingRecord): Buffer {
  return encodeArrays({}, { ebm: model, record } satisfies EbmMeta);
}

const isEbmMeta = (meta: MlpMeta | EbmMeta): meta is EbmMeta => (meta as EbmMeta).ebm?.format === EBM_FORMAT;

export function decodeModel(bytes: Uint8Array): MlpParameters | EbmModel {
  const { meta, arrays } = decodeArrays<MlpMeta | EbmMeta>(bytes);
  if (isEbmMeta(meta)) return meta.ebm;
  const layers = Array.from({ length: meta.hidden.length + 1 }, (_, l) => ({
    weights: arrays[`w${l}`] as Float32Array,
    bias: arrays[`b${l}`] as Float32Array,
  }));
  return { ...meta, layers };
}

/** The training record stored with an EBM; null for an MLP's file. */
export function decodeEbmRecord(bytes: Uint8Array): EbmTrainingRecord | null {
  const { meta } = decodeArrays<MlpMeta | EbmMeta>(bytes);
  return isEbmMeta(meta) ? meta.record : null;
}

const isEbm = (model: MlpParameters | EbmModel): model is EbmModel => (model as EbmModel).format === EBM_FORMAT;

/** Scores of transformed input rows by a stored model of either family. */
export function predictModel(model: MlpParameters | EbmModel, x: Float32Array | Float64Array, rows: number): Float32Array {
  return isEbm(model) ? predictEbm(model, x, rows) : predictMlp(model, x, rows);
}
