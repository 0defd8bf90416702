import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ConfigError, loadConfig, parseConfig, projectRoot } from '../../config';

const root = projectRoot();
const settings = () => parse(readFileSync(path.join(root, 'config.yaml'), 'utf8'));
const secrets = { S3_ACCESS_KEY: 'fraudops', S3_SECRET_KEY: 'a-long-secret', API_TOKEN: 'a-test-token-of-16+' };

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('accepts the committed config.yaml with the example secrets', () => {
    const config = parseConfig(settings(), secrets, root);
    assert.equal(config.stack.kafka.port, 9092);
    assert.equal(config.secrets.S3_ACCESS_KEY, 'fraudops');
  });

  it('names the key, the value and the rule for a bad port', () => {
    const raw = settings();
    raw.stack.kafka.port = 70000;
    const message = configError(() => parseConfig(raw, secrets, root));
    assert.match(message, /stack\.kafka\.port = 70000/);
    assert.match(message, /65535/);
  });

  it('rejects a wrong type, an unknown key and a duplicated port', () => {
    const wrongType = settings();
    wrongType.stack.redis.port = 'six';
    assert.match(
      configError(() => parseConfig(wrongType, secrets, root)),
      /stack\.redis\.port = "six": .*number/,
    );

    const unknown = settings();
    unknown.stack.kafak = {};
    assert.match(
      configError(() => parseConfig(unknown, secrets, root)),
      /stack\.kafak: unknown key/,
    );

    const clash = settings();
    clash.stack.mlflow.port = clash.stack.s3.port;
    assert.match(
      configError(() => parseConfig(clash, secrets, root)),
      /stack\.mlflow\.port = 8333: must differ from stack\.s3\.port/,
    );
  });

  it('reports a missing secret without printing any secret value', () => {
    const message = configError(() => parseConfig(settings(), { S3_ACCESS_KEY: 'fraudops', S3_SECRET_KEY: 'short' }, root));
    assert.match(message, /S3_SECRET_KEY/);
    assert.doesNotMatch(message, /short/);
    assert.match(
      configError(() => parseConfig(settings(), { S3_SECRET_KEY: 'a-long-secret' }, root)),
      /S3_ACCESS_KEY: missing/,
    );
  });

  it('lets FRAUDOPS_TF_BACKEND override tensorflow.backend and validates it', () => {
    const env = { ...secrets, FRAUDOPS_CONFIG: path.join(root, 'config.yaml') };
    assert.equal(loadConfig({ ...env, FRAUDOPS_TF_BACKEND: 'wasm' }).tensorflow.backend, 'wasm');
    assert.match(
      configError(() => loadConfig({ ...env, FRAUDOPS_TF_BACKEND: 'gpu' })),
      /tensorflow\.backend = "gpu"/,
    );
  });

  it('makes `stack status` exit 1 when services are not healthy', () => {
    // A config whose ports nothing listens on: every service reads as stopped.
    const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-status-'));
    const raw = settings();
    raw.stack.dir = path.join(dir, 'stack');
    writeFileSync(path.join(dir, 'config.yaml'), JSON.stringify(raw));
    writeFileSync(path.join(dir, '.env'), 'S3_ACCESS_KEY=fraudops\nS3_SECRET_KEY=a-long-secret\nAPI_TOKEN=a-test-token-of-16+\n');
    const result = spawnSync(process.execPath, [path.join(root, 'bin', 'fraudops.cjs'), 'stack', 'status', '--json'], {
      env: { ...process.env, FRAUDOPS_CONFIG: path.join(dir, 'config.yaml') },
      encoding: 'utf8',
    });
    assert.equal(result.status, 1, result.stderr);
    assert.ok((JSON.parse(result.stdout) as Array<{ running: boolean }>).every((row) => !row.running));
  });

  it('makes the CLI exit non-zero with the key and rule on a bad config file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-config-'));
    const raw = settings();
    raw.stack.healthTimeoutSeconds = -1;
    writeFileSync(path.join(dir, 'config.yaml'), JSON.stringify(raw));
    writeFileSync(path.join(dir, '.env'), 'S3_ACCESS_KEY=fraudops\nS3_SECRET_KEY=a-long-secret\nAPI_TOKEN=a-test-token-of-16+\n');
    const result = spawnSync(process.execPath, [path.join(root, 'bin', 'fraudops.cjs'), 'stack', 'status'], {
      env: { ...process.env, FRAUDOPS_CONFIG: path.join(dir, 'config.yaml') },
      encoding: 'utf8',
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /config error: .*\n\s+stack\.healthTimeoutSeconds = -1: .*>=\s*5/);
  });
});
