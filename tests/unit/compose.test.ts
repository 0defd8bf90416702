// No Docker engine runs here, so docker-compose.yml is checked statically.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { projectRoot } from '../../config';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';

interface ComposeService {
  image?: string;
  build?: string;
  ports?: string[];
  healthcheck?: { test: string[] | string };
  volumes?: string[];
  environment?: Record<string, string | number>;
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
}

const root = projectRoot();
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const services = compose.services;

describe('docker-compose.yml', () => {
  it('has every service of DESIGN §2', () => {
    for (const name of [
      'temporal',
      'temporal-postgresql',
      'temporal-ui',
      'kafka',
      'seaweedfs',
      'mlflow',
      'redis',
      'prometheus',
      'grafana',
    ]) {
      assert.ok(services[name], `missing service ${name}`);
      assert.ok(services[name].image || services[name].build, `${name} has no image`);
    }
  });

  it('publishes the same ports as the local stack', () => {
    const published = Object.fromEntries(
      Object.entries(services).flatMap(([name, service]) => (service.ports ?? []).map((port) => [port.split(':')[0], name])),
    );
    assert.deepEqual(
      {
        7233: published[7233],
        8233: published[8233],
        9092: published[9092],
        8333: published[8333],
        5000: published[5000],
        6379: published[6379],
      },
      { 7233: 'temporal', 8233: 'temporal-ui', 9092: 'kafka', 8333: 'seaweedfs', 5000: 'mlflow', 6379: 'redis' },
    );
    assert.equal(published[9090], 'prometheus');
    assert.equal(published[3000], 'grafana');
  });

  it('health-checks every long-running service, and waits on health where it depends', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.restart === 'no') continue;
      assert.ok(service.healthcheck?.test, `${name} has no healthcheck`);
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        assert.ok(services[dependency], `${name} depends on unknown ${dependency}`);
        assert.equal(condition, 'service_healthy', `${name} -> ${dependency}`);
      }
    }
  });

  it('keeps data in declared named volumes and mounts only files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('.')) assert.ok(existsSync(path.join(root, source)), `${name} mounts missing ${source}`);
        else assert.ok(source in compose.volumes, `${name} uses undeclared volume ${source}`);
      }
    }
  });

  it('holds no secret: every password or key comes from the environment', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (/PASSWORD|PWD|SECRET|ACCESS_KEY/.test(key)) assert.match(String(value), /^\$\{[A-Z0-9_]+(:\?[^}]*)?\}$/, `${name}.${key}`);
      }
    }
  });

  it('registers the same search attributes as the local dev server', () => {
    const script = readFileSync(path.join(root, 'deploy', 'temporal', 'create-search-attributes.sh'), 'utf8');
    const listed = /for attr in ([^;]+);/.exec(script)?.[1].trim().split(/\s+/) ?? [];
    assert.deepEqual(
      listed.sort(),
      Object.entries(SEARCH_ATTRIBUTES)
        .map(([name, type]) => `${name}=${type}`)
        .sort(),
    );
  });
});
