// Promotion and rollback in the MLflow registry: alias `champion` is the serving model, `previous` the one it
// replaced. Every change is announced on the model-events topic, so the API and the stream scorer hot-swap.
// Promotion is idempotent (promoting the champion again changes and announces nothing); a rollback swaps the
// two aliases, so a second rollback undoes the first.
import { createIdempotentProducer, type Kafka } from './kafka';
import type { MlflowClient } from './mlflow';

export const CHAMPION = 'champion';
export const PREVIOUS = 'previous';

export interface ModelEvent {
  type: 'promoted' | 'rolled-back';
  model: string;
  champion: string;
  previous: string | null;
  at: string;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
}

async function announce(kafka: Kafka, topic: string, event: ModelEvent): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ key: event.model, value: JSON.stringify(event) }] });
  } finally {
    await producer.disconnect();
  }
}

export interface RegistryDeps {
  mlflow: MlflowClient;
  kafka: Kafka;
  /** The model-events topic. */
  topic: string;
}

/** Makes `version` the champion and the old champion `previous`; returns the event, or null when it already was. */
export async function promoteVersion(deps: RegistryDeps, model: string, version: string): Promise<ModelEvent | null> {
  await deps.mlflow.getModelVersion(model, version); // fails with MLflow's message for an unknown version
  const current = await deps.mlflow.getVersionByAlias(model, CHAMPION);
  if (current?.version === version) return null;
  if (current) await deps.mlflow.setAlias(model, PREVIOUS, current.version);
  await deps.mlflow.setAlias(model, CHAMPION, version);
  const event: ModelEvent = {
    type: 'promoted',
    model,
    champion: version,
    previous: current?.version ?? null,
    at: new Date().toISOString(),
  };
  await announce(deps.kafka, deps.topic, event);
  return event;
}

/** Swaps `champion` and `previous` (the previous champion serves again); throws when there is no previous. */
export async function rollbackChampion(deps: RegistryDeps, model: string): Promise<ModelEvent> {
  const previous = await deps.mlflow.getVersionByAlias(model, PREVIOUS);
  if (!previous) throw new RegistryError(`model ${model} has no "${PREVIOUS}" alias: there is nothing to roll back to`);
  const champion = await deps.mlflow.getVersionByAlias(model, CHAMPION);
  await deps.mlflow.setAlias(model, CHAMPION, previous.version);
  if (champion) await deps.mlflow.setAlias(model, PREVIOUS, champion.version);
  const event: ModelEvent = {
    type: 'rolled-back',
    model,
    champion: previous.version,
    previous: champion?.version ?? null,
    at: new Date().toISOString(),
  };
  await announce(deps.kafka, deps.topic, event);
  return event;
}
