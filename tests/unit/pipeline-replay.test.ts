// Replay: histories of real pipeline runs (tests/fixtures/histories, recorded with tools/record-history.ts from the
// dev server) must replay against the current workflow code. A change that breaks one is a change old runs cannot
// survive: guard it with patched() or, deliberately, record the fixtures again.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { projectRoot } from '../../config';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';
import { PIPELINE_KEYS, TUNING_KEYS } from '../../workflows/search-attributes';

Runtime.install({ logger: new DefaultLogger('WARN') });
const dir = path.join(projectRoot(), 'tests', 'fixtures', 'histories');
const fixtures = readdirSync(dir).filter((name) => name.endsWith('.json'));

describe('trainingPipeline replays the histories of real runs', () => {
  it('has recorded histories to replay', () => {
    assert.ok(fixtures.length >= 2, fixtures.join(', '));
  });

  for (const name of fixtures) {
    it(`replays ${name}`, async () => {
      const history = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
      await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, `replay-${name}`);
    });
  }

  it('upserts exactly the search attributes registered with the server, with their types', () => {
    const keys = [...Object.values(PIPELINE_KEYS), ...Object.values(TUNING_KEYS)];
    const upserted = Object.fromEntries(keys.map((key) => [key.name, key.type.toLowerCase()]));
    const registered = Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, type.toLowerCase()]));
    assert.deepEqual(upserted, registered);
  });
});
