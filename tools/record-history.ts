// Saves the event history of a finished pipeline run as a replay fixture (tests/fixtures/histories/<name>.json),
// in the proto-JSON form of `temporal workflow show -o json`. Regenerate deliberately when the workflow changes;
// guard changes that old runs must survive with patched().
//   FRAUDOPS_CONFIG=... npx tsx tools/record-history.ts <workflowId> <name> [runId]
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporalAddress } from '../clients/temporal';
import { loadConfig, projectRoot } from '../config';
import { stackPaths } from '../stack/paths';

const [workflowId, name, runId] = process.argv.slice(2);
if (!workflowId || !name) {
  console.error('usage: record-history.ts <workflowId> <name> [runId]');
  process.exit(2);
}
const config = loadConfig();
const args = [
  'workflow',
  'show',
  '-w',
  workflowId,
  '-o',
  'json',
  '--address',
  temporalAddress(config),
  '--namespace',
  config.stack.temporal.namespace,
];
if (runId) args.push('-r', runId);
const history = execFileSync(stackPaths(config).venvBin('temporal'), args, { encoding: 'utf8' });
const file = path.join(projectRoot(), 'tests', 'fixtures', 'histories', `${name}.json`);
writeFileSync(file, history);
console.log(`${file}: ${JSON.parse(history).events.length} events`);
