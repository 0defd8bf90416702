// `fraudops model`: the serving model in the MLflow registry (alias champion) — show, promote, roll back.
import type { Command } from 'commander';
import { createKafka, ensureTopics } from '../clients/kafka';
import { MlflowClient } from '../clients/mlflow';
import { CHAMPION, type ModelEvent, PREVIOUS, promoteVersion, type RegistryDeps, rollbackChampion } from '../clients/model-registry';
import { createRedis } from '../clients/redis';
import { loadConfig } from '../config';
import { readQualityTable } from '../stream/quality';
import { QualityStore } from '../stream/quality-store';
import { formatQualityTable } from '../stream/quality-table';
import { numberIn } from './files';

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

  model
    .command('quality')
    .description(
      'print the live quality table of `fraudops quality-monitor`: per event day, model version and label source ' +
        '(chargeback; analyst: reviewed cases only), AP, ROC AUC, card precision@100, precision and recall at the ' +
        "threshold, alert rate; and the champion's live AP against its offline test AP",
    )
    .option('--json', 'print JSON: {champion, rows}')
    .option('--days <n>', 'only the latest n event days', numberIn(1, 3650, true))
    .option('--redis-prefix <prefix>', 'key prefix of the monitor state (default: fraudops:quality:)')
    .action(async (options: { json?: boolean; days?: number; redisPrefix?: string }) => {
      const config = loadConfig();
      const redis = createRedis(config);
      try {
        const store = QualityStore.of(redis, config, options.redisPrefix);
        let rows = await readQualityTable(store);
        if (options.days) {
          const days = [...new Set(rows.map((row) => row.day))].sort().slice(-options.days);
          rows = rows.filter((row) => days.includes(row.day));
        }
        const champion = (await store.championStatus()) ?? null;
        if (options.json) {
          console.log(JSON.stringify({ champion, rows }));
          return;
        }
        console.log(rows.length ? formatQualityTable(rows) : 'no labelled predictions yet (is `fraudops quality-monitor` running?)');
        if (champion) {
          const live = champion.liveAveragePrecision?.toFixed(4) ?? `n/a (${champion.positives} frauds < quality.minPositives)`;
          console.log(
            `champion ${champion.version}: live AP ${live} on ${champion.from ?? '-'}..${champion.to ?? '-'}, offline ` +
              `${champion.offlineAveragePrecision?.toFixed(4) ?? 'n/a'}, floor ${champion.floor?.toFixed(4) ?? 'n/a'}` +
              `${champion.breached ? ' — BELOW THE FLOOR' : ''} (as of ${champion.at})`,
          );
        }
      } finally {
        redis.disconnect();
      }
    });
}
