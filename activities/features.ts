// Step 3: the shared feature code over the snapshot's timeline, then the time split of the protocol placed at the
// end of the matured data. The splits' raw features go to S3; the workflow gets the key and the periods.
import { loadSnapshot } from '../clients/snapshot-store';
import { decodeArrays, encodeArrays } from '../dataset/arrays';
import { type SplitFeatures, splitFeatures } from '../ml/experiment';
import { latestProtocol, type ProtocolOptions } from '../ml/protocol';
import type { TrainingSettings } from '../workflows/settings';
import { type ActivityDeps, getRunObject, putRunObject, runKey } from './deps';
import type { DatasetRef } from './ingest';

export interface SplitRef {
  key: string;
  protocol: ProtocolOptions;
  periods: SplitFeatures['periods'];
  rows: { train: number; validation: number; test: number };
  frauds: { train: number; validation: number; test: number };
  removedKnownCompromised: number;
}

const frauds = (y: Uint8Array) => y.reduce((sum, v) => sum + v, 0);

export function encodeSplit(split: SplitFeatures): Buffer {
  const { train, validation, test } = split;
  return encodeArrays(
    {
      trainX: train.x,
      trainY: train.y,
      validationX: validation.x,
      validationY: validation.y,
      testX: test.x,
      testY: test.y,
      testCustomerId: test.customerId,
      testDay: test.day,
    },
    { periods: split.periods, removedKnownCompromised: split.removedKnownCompromised },
  );
}

export function decodeSplit(bytes: Uint8Array): SplitFeatures {
  const { meta, arrays: a } = decodeArrays<Pick<SplitFeatures, 'periods' | 'removedKnownCompromised'>>(bytes);
  const part = (x: unknown, y: unknown) => ({ x: x as Float64Array, y: y as Uint8Array, rows: (y as Uint8Array).length });
  return {
    ...meta,
    train: part(a.trainX, a.trainY),
    validation: part(a.validationX, a.validationY),
    test: { ...part(a.testX, a.testY), customerId: a.testCustomerId as Float64Array, day: a.testDay as Uint16Array },
  };
}

export const loadSplit = async (deps: ActivityDeps, key: string) => decodeSplit(await getRunObject(deps, key));

export function createFeatureActivities(deps: ActivityDeps) {
  return {
    async buildFeatures(input: { dataset: DatasetRef; training: TrainingSettings }): Promise<SplitRef> {
      const { dataset } = input;
      const { columns } = await loadSnapshot(deps.s3, {
        bucket: deps.config.stack.s3.bucket,
        prefix: dataset.prefix,
        sha256: dataset.sha256,
      });
      const protocol = latestProtocol(columns, input.training.protocol);
      const split = splitFeatures(columns, protocol);
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
