// Step 2: validate the snapshot's labelled rows (the declared record contract, statistics, drift against the champion's
// training statistics) and store the report. Failed data is a non-retryable DataValidationError that carries the report's
// keys. Drift is recorded (the run goes on to train a model on the new data) unless it passes validation.drift.hardLimit.
import { ApplicationFailure } from '@temporalio/activity';
import { championBundle } from '../clients/model-registry';
import { REFERENCE_FILE } from '../ml/bundle';
import {
  DataValidationError,
  parseReferenceStatistics,
  type ReferenceStatistics,
  renderHtmlReport,
  throwIfFailed,
  validateLabelledColumns,
} from '../ml/validation';
import { recordContract, resolveDeclaration } from '../records';
import { datasetColumns, keepColumns } from './dataset-columns';
import { type ActivityDeps, putRunObject, runKey } from './deps';
import type { DatasetRef } from './ingest';

export interface ValidationRef {
  reportKey: string;
  htmlKey: string;
  /**
   * This dataset's labelled rows counted in public bins (ml/validation/public-reference.ts), stored for the
   * candidate's bundle: the next run's drift reference. Exact statistics never go there.
   */
  referenceKey: string;
  /** Champion version the drift was measured against, or null when there was none. */
  driftReferenceVersion: string | null;
  /** The features that drifted past validation.drift but not its hard limit: recorded, not a failure. */
  drifted?: string[];
  rows: number;
  warnings: number;
}

/** Details of the DataValidationError failure: where the reports are. */
export interface ValidationFailureDetails {
  reportKey: string;
  htmlKey: string;
  failures: string[];
}

export function createValidateActivities(deps: ActivityDeps) {
  async function championReference(): Promise<{ version: string; reference: ReferenceStatistics } | undefined> {
    const champion = await championBundle(
      { mlflow: deps.mlflow, s3: deps.s3, bucket: deps.config.stack.s3.bucket },
      deps.config.registry.modelName,
    );
    const file = champion?.files.get(REFERENCE_FILE);
    if (!champion || !file) return undefined;
    const reference = parseReferenceStatistics(
      JSON.parse(Buffer.from(file).toString('utf8')),
      `champion ${champion.version.version} ${REFERENCE_FILE}`,
    );
    return { version: champion.version.version, reference };
  }

  return {
    async validateSnapshot(dataset: DatasetRef): Promise<ValidationRef> {
      const { config } = deps;
      const declaration = resolveDeclaration(config.records);
      const columns = await datasetColumns(deps, dataset, declaration);
      const champion = await championReference();
      // Its public reference (the next run's drift reference) is of the labelled rows that pass the contract (all of
      // them, unless some fail it), counted with the features validation computes for them.
      const { report, publicReference } = validateLabelledColumns(columns, {
        contract: recordContract(config),
        now: Date.now() / 1000,
        thresholds: config.validation,
        reference: champion?.reference,
        labelDelayDays: config.producer.labelDelayDays,
        referenceSplit: `labelled rows of snapshot ${dataset.sha256.slice(0, 12)}`,
      });
      const [reportKey, htmlKey, referenceKey] = [
        runKey('validation/report.json'),
        runKey('validation/report.html'),
        runKey(REFERENCE_FILE),
      ];
      await putRunObject(deps, reportKey, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
      await putRunObject(deps, htmlKey, renderHtmlReport(report), 'text/html; charset=utf-8');
      if (publicReference) await putRunObject(deps, referenceKey, JSON.stringify(publicReference), 'application/json');
      try {
        throwIfFailed(report, `s3://${config.stack.s3.bucket}/${htmlKey}`);
      } catch (err) {
        if (!(err instanceof DataValidationError)) throw err;
        const details: ValidationFailureDetails = { reportKey, htmlKey, failures: report.failures };
        throw ApplicationFailure.create({ type: 'DataValidationError', message: err.message, nonRetryable: true, details: [details] });
      }
      keepColumns(dataset, columns);
      return {
        reportKey,
        htmlKey,
        referenceKey,
        driftReferenceVersion: champion?.version ?? null,
        drifted: report.features.filter((f) => f.drift?.drifted).map((f) => f.name),
        rows: report.rows.total,
        warnings: report.warnings.length,
      };
    },
  };
}
