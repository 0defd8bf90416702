// Step 4: the input transform and class balancing on the training split only (SMOTE, class weights or
// stratified sampling; DESIGN §6 says what each does to privacy). The examples the trainer reads go to S3.
import { decodeArrays, encodeArrays, type StoredArray } from '../dataset/arrays';
import { type BalancedTraining, balanceTraining } from '../ml/experiment';
import { transformWidth } from '../ml/transforms';
import type { TrainingSettings } from '../workflows/settings';
import { type ActivityDeps, getRunObject, putRunObject, runKey } from './deps';
import { asSigned, asUnsigned, loadSplit, type SplitRef } from './features';

export interface TrainingSetRef {
  key: string;
  examples: number;
  records: number;
  /** Cards among the training records: the privacy units of the card unit. */
  cards: number;
  positives: number;
  syntheticRows: number;
  /** The model's inputs (columns of the examples); absent in runs balanced before it existed. */
  inputs?: number;
}

type TrainingMeta = Pick<BalancedTraining, 'records' | 'cards' | 'transform' | 'preprocessing' | 'assumptions'>;

export function encodeTraining(training: BalancedTraining): Buffer {
  const arrays: Record<string, StoredArray> = { x: training.x, y: training.y };
  if (training.groups) arrays.groups = asUnsigned(training.groups);
  if (training.influence) arrays.influence = training.influence;
  const { records, cards, transform, preprocessing, assumptions } = training;
  const meta: TrainingMeta = { records, cards, transform, preprocessing, assumptions };
  return encodeArrays(arrays, meta);
}

export function decodeTraining(bytes: Uint8Array): BalancedTraining {
  const { meta, arrays } = decodeArrays<TrainingMeta>(bytes);
  const y = arrays.y as Uint8Array;
  return {
    ...meta,
    x: arrays.x as Float32Array,
    y,
    rows: y.length,
    groups: arrays.groups && asSigned(arrays.groups as Uint32Array),
    influence: arrays.influence as Uint32Array | undefined,
  };
}

export const loadTraining = async (deps: ActivityDeps, key: string) => decodeTraining(await getRunObject(deps, key));

export function createBalanceActivities(deps: ActivityDeps) {
  return {
    async balanceClasses(input: { split: SplitRef; training: TrainingSettings }): Promise<TrainingSetRef> {
      const split = await loadSplit(deps, input.split.key);
      const training = balanceTraining(split.train, input.training.options, split.features);
      const key = runKey('training.bin');
      await putRunObject(deps, key, encodeTraining(training));
      return {
        key,
        examples: training.rows,
        records: training.records,
        cards: training.cards,
        positives: training.y.reduce((sum, v) => sum + v, 0),
        syntheticRows: training.rows - training.records,
        inputs: transformWidth(training.transform),
      };
    },
  };
}
