// `fraudops model`: the serving model in the MLflow registry (alias champion) — show, promote, roll back.
import type { Command } from 'commander';
import { createKafka, ensureTopics } from '../clients/kafka';
import { MlflowClient } from '../clients/mlflow';
import { CHAMPION, type ModelEvent, PREVIOUS, promoteVersion, type RegistryDeps, rollbackChampion } from '../clients/model-registry';
import { loadConfig } from '../config';

async function registryDeps(): Promise<{ deps: RegistryDeps; model: string }> {
  const config = loadConfig();
  const kafka = createKafka(config, 'fraudops-model');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [config.topics.modelEvents], config.stack.kafka.partitions);
  await admin.disconnect();
  return { deps: { mlflow: MlflowClient.fromConfig(config), kafka, topic: config.topics.modelEvents }, model: config.registry.modelName };
}

const describeEvent = (event: ModelEvent) =>
  `${event.model}: champion is now version ${event.champion}${event.previous ? `, previous ${event.previous}` : ''} (announced on model-events)`;

export function registerModelCommands(program: Command): void {
  const model = program
    .command('model')
    .description(
      `The serving model in the MLflow registry (registry.modelName): alias "${CHAMPION}" serves, "${PREVIOUS}" is kept for rollback`,
    );

  model
    .command('status')
    .description('print the champion and previous versions')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const { deps, model: name } = await registryDeps();
      const [champion, previous] = await Promise.all([
        deps.mlflow.getVersionByAlias(name, CHAMPION),
        deps.mlflow.getVersionByAlias(name, PREVIOUS),
      ]);
      const status = { model: name, champion: champion?.version ?? null, previous: previous?.version ?? null };
      console.log(
        options.json ? JSON.stringify(status) : `${name}: champion ${status.champion ?? '(none)'}, previous ${status.previous ?? '(none)'}`,
      );
    });

  model
    .command('promote <version>')
    .description('make <version> the champion (the old champion becomes previous); promoting the champion again does nothing')
    .action(async (version: string) => {
      const { deps, model: name } = await registryDeps();
      const event = await promoteVersion(deps, name, version);
      console.log(event ? describeEvent(event) : `${name}: version ${version} already is the champion; nothing changed`);
    });

  model
    .command('rollback')
    .description('restore the previous champion (the current one becomes previous)')
    .action(async () => {
      const { deps, model: name } = await registryDeps();
      console.log(describeEvent(await rollbackChampion(deps, name)));
    });
}
