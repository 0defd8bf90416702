// The MLflow run of a pipeline workflow, found by its workflow_id tag or created: the privacy ledger mirrors its
// entry into it before training, and registerCandidate logs the candidate into the same run.
import type { Run } from '../clients/mlflow';
import type { ActivityDeps } from './deps';

export async function pipelineRun(
  deps: ActivityDeps,
  workflowId: string,
  datasetSha256: string,
): Promise<{ run: Run; experimentId: string }> {
  const { mlflow } = deps;
  const experimentId = await mlflow.ensureExperiment(`${deps.config.registry.modelName}-pipeline`);
  const [existing] = await mlflow.searchRuns([experimentId], `tags.workflow_id = '${workflowId}'`, 1);
  const run =
    existing ??
    (await mlflow.createRun(experimentId, {
      runName: workflowId,
      tags: { workflow_id: workflowId, dataset_sha256: datasetSha256, 'mlflow.source.name': 'fraudops trainingPipeline' },
    }));
  return { run, experimentId };
}
