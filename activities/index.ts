// Every pipeline activity, built from one set of dependencies (the Temporal samples' createActivities(deps) style).
// Workflows import the `Activities` type only.
import { createBalanceActivities } from './balance';
import type { ActivityDeps } from './deps';
import { createEvaluateActivities } from './evaluate';
import { createFeatureActivities } from './features';
import { createIngestActivities } from './ingest';
import { createPrivacyLedgerActivities } from './privacy-ledger';
import { createRegisterActivities } from './register';
import { createSupersedeActivities } from './supersede';
import { createTrainActivities } from './train';
import { createTuningActivities } from './tuning';
import { createValidateActivities } from './validate';

export function createActivities(deps: ActivityDeps, worker: { device: 'gpu' | 'cpu' } = { device: 'cpu' }) {
  return {
    ...createIngestActivities(deps),
    ...createValidateActivities(deps),
    ...createFeatureActivities(deps),
    ...createBalanceActivities(deps),
    ...createPrivacyLedgerActivities(deps),
    ...createTrainActivities(deps, worker),
    ...createEvaluateActivities(deps),
    ...createRegisterActivities(deps),
    ...createSupersedeActivities(deps),
    ...createTuningActivities(deps, worker),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export { createActivityDeps } from './deps';
