// A finished tuning search read back from MLflow (its parent run's best-config.json), for the pipeline:
// pipeline.training.fromTuning and `fraudops pipeline run --tuning ID`.
import { BEST_CONFIG_ARTIFACT, type BestConfig, TUNING_TAGS, tuningExperiment } from '../activities/tuning';
import type { MlflowClient } from '../clients/mlflow';
import type { Config } from '../config';
import type { ExperimentOptions } from '../ml/experiment';
import { candidateOptions } from '../ml/tuning/space';

/** A search that cannot be started or read back; the message says why. */
export class TuningError extends Error {
  override name = 'TuningError';
}

/** The best config of a finished search: `ref` is its MLflow parent run id, or `latest` (the newest finished one). */
export async function readTunedConfig(mlflow: MlflowClient, config: Config, ref: string): Promise<BestConfig> {
  let runId = ref;
  if (ref === 'latest') {
    const experiment = await mlflow.getExperimentByName(tuningExperiment(config.registry.modelName));
    const [latest] = experiment
      ? await mlflow.searchRuns([experiment.experiment_id], `tags.\`${TUNING_TAGS.role}\` = 'parent' and attributes.status = 'FINISHED'`, 1)
      : [];
    if (!latest)
      throw new TuningError(
        `fromTuning latest: no finished tuning search in MLflow experiment ${tuningExperiment(config.registry.modelName)}`,
      );
    runId = latest.info.run_id;
  }
  const run = await mlflow.getRun(runId).catch((err: Error) => {
    throw new TuningError(`fromTuning ${ref}: no MLflow run ${runId} (${err.message})`);
  });
  if (run.data.tags?.find((t) => t.key === TUNING_TAGS.role)?.value !== 'parent' || run.info.status !== 'FINISHED') {
    throw new TuningError(`fromTuning ${ref}: run ${runId} is not a finished tuning search (status ${run.info.status})`);
  }
  return JSON.parse((await mlflow.downloadArtifact(run.info, BEST_CONFIG_ARTIFACT)).toString('utf8')) as BestConfig;
}

/** The training options a tuned config overrides (the rest stay pipeline.training's; `ebm.*` keys merge into its ebm). */
export const tunedOptions = (best: BestConfig, ebm?: ExperimentOptions['ebm']) =>
  candidateOptions(ebm ? { ebm } : {}, best.hyperParameters) as Partial<Omit<ExperimentOptions, 'protocol'>>;
