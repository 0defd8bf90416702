import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis } from '../../clients/redis';
import { loadConfig } from '../../config';

const redis = createRedis(loadConfig());

describe('redis (real server)', () => {
  after(() => redis.disconnect());

  it('sets, gets and expires a key', async () => {
    const key = `smoke:${randomUUID()}`;
    assert.equal(await redis.set(key, 'value-1'), 'OK');
    assert.equal(await redis.get(key), 'value-1');
    assert.equal(await redis.pexpire(key, 300), 1);
    const ttl = await redis.pttl(key);
    assert.ok(ttl > 0 && ttl <= 300, `ttl ${ttl}`);
    await sleep(450);
    assert.equal(await redis.get(key), null);
    assert.equal(await redis.exists(key), 0);
  });
});
