// The custom search attributes that make a pipeline run readable in the Temporal Web UI (DESIGN §5).
// One list feeds the dev server flags, the compose setup and the workflows' upserts.
export const SEARCH_ATTRIBUTES = {
  ModelVersion: 'Keyword',
  AveragePrecision: 'Double',
  Epsilon: 'Double',
  LifetimeEpsilon: 'Double',
  Stage: 'Keyword',
  TrainDevice: 'Keyword',
  TuningTrialsDone: 'Int',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;

/** `--search-attribute Name=Type` flags for `temporal server start-dev`. */
export function searchAttributeFlags(): string[] {
  return Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
}
