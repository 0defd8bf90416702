// Runs every test file under tests/ (or those named on the command line) with Node's built-in
// runner and a TypeScript loader; prints the spec report and a closing `N passed, M failed` line.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const suites = args.filter((arg) => !arg.startsWith('-'));

function testFiles(dir) {
  return readdirSync(dir, { recursive: true })
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => path.join(dir, name))
    .sort();
}

// `node tests/run.mjs unit` runs tests/unit only; a file path runs that file.
const files = suites.length
  ? suites.flatMap((suite) => (suite.endsWith('.ts') ? [path.resolve(suite)] : testFiles(path.join(root, suite))))
  : testFiles(root);
if (!files.length) {
  console.error(`no test files found for ${suites.join(' ') || 'tests/'}`);
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(root, 'summary-reporter.mjs')}`,
    '--test-reporter-destination=stdout',
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' } },
);
process.exit(result.status ?? 1);
