// Step 3: the shared feature code over the snapshot's timeline, then the time split of the protocol placed at the
// end of the matured data. The splits' raw features go to S3; the workflow gets the key and the periods.
import { decodeArrays, encodeArrays } from '../dataset/arrays';
import { type SplitFeatures, splitFeatures } from '../ml/experiment';
import { featureSetOf } from '../ml/feature-set';
import { latestProtocol, type ProtocolOptions } from '../ml/protocol';
import { resolveDeclaration } from '../records';
import type { TrainingSettings } from '../workflows/settings';
import { datasetColumns } from './dataset-columns';
import { type ActivityDeps, getRunObject, putRunObject, runKey } from './deps';
import type { DatasetRef } from './ingest';

/** Card indices (>= 0) as the unsigned words arrays.ts stores, and back: the same bytes. */
export const asUnsigned = (a: Int32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
export const asSigned = (a: Uint32Array) => new Int32Array(a.buffer, a.byteOffset, a.length);

export interface SplitRef {
  key: string;
  protocol: ProtocolOptions;
  periods: SplitFeatures['periods'];
  rows: { train: number; validation: number; test: number };
  frauds: { train: number; validation: number; test: number };
  removedKnownCompromised: number;
}

const frauds = (y: Uint8Array) => y.reduce((sum, v) => sum + v, 0);

/**
 * The split's numbers as arrays; the test cards' ids (strings) as a list of distinct ids in the header and an index per
 * row. Training rows keep only their card's index (0 … trainCards − 1), which the card privacy unit needs: no id.
 */
type SplitMeta = Pick<SplitFeatures, 'features' | 'periods' | 'removedKnownCompromised'> & { testCards: string[]; trainCards: number };

export function encodeSplit(split: SplitFeatures): Buffer {
  const { train, validation, test } = split;
  const index = new Map<string, number>();
  const testCard = Uint32Array.from(test.customerId, (id) => {
    let i = index.get(id);
    if (i === undefined) {
      i = index.size;
      index.set(id, i);
    }
    return i;
  });
  const meta: SplitMeta = {
    features: split.features,
    periods: split.periods,
    removedKnownCompromised: split.removedKnownCompromised,
    testCards: [...index.keys()],
    trainCards: train.cards,
  };
  return encodeArrays(
    {
      trainX: train.x,
      trainY: train.y,
      trainCard: asUnsigned(train.card),
      validationX: validation.x,
      validationY: validation.y,
      testX: test.x,
      testY: test.y,
      testCard,
      testDay: test.day,
    },
    meta,
  );
}

export function decodeSplit(bytes: Uint8Array): SplitFeatures {
  const { meta, arrays: a } = decodeArrays<SplitMeta>(bytes);
  const { testCards, trainCards, ...rest } = meta;
  const part = (x: unknown, y: unknown) => ({ x: x as Float64Array, y: y as Uint8Array, rows: (y as Uint8Array).length });
  const customerId = Array.from(a.testCard as Uint32Array, (i) => testCards[i]);
  return {
    ...rest,
    train: { ...part(a.trainX, a.trainY), card: asSigned(a.trainCard as Uint32Array), cards: trainCards },
    validation: part(a.validationX, a.validationY),
    test: { ...part(a.testX, a.testY), customerId, day: a.testDay as Uint16Array },
  };
}

export const loadSplit = async (deps: ActivityDeps, key: string) => decodeSplit(await getRunObject(deps, key));

export function createFeatureActivities(deps: ActivityDeps) {
  return {
    async buildFeatures(input: { dataset: DatasetRef; training: TrainingSettings }): Promise<SplitRef> {
      const { dataset } = input;
      const declaration = resolveDeclaration(deps.config.records);
      const columns = await datasetColumns(deps, dataset, declaration);
      const protocol = latestProtocol(columns, input.training.protocol);
      const split = splitFeatures(columns, protocol, featureSetOf(declaration));
      const key = runKey('split.bin');
      await putRunObject(deps, key, encodeSplit(split));
      return {
        key,
        protocol,
        periods: split.periods,
        rows: { train: split.train.rows, validation: split.validation.rows, test: split.test.rows },
        frauds: { train: frauds(split.train.y), validation: frauds(split.validation.y), test: frauds(split.test.y) },
        removedKnownCompromised: split.removedKnownCompromised,
      };
    },
  };
}
