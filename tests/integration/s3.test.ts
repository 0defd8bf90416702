import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { createS3, getObjectBuffer } from '../../clients/s3';
import { loadConfig } from '../../config';

const config = loadConfig();
const s3 = createS3(config);
const bucket = config.stack.s3.bucket;
const prefix = `smoke/${randomUUID()}/`;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function listKeys(listPrefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of s3.listObjectsV2(bucket, listPrefix, true)) if (item.name) keys.push(item.name);
  return keys.sort();
}

describe('s3 (real SeaweedFS)', () => {
  it('puts, lists, gets (sha256 checked) and deletes objects, a 50 MB one included', async () => {
    const objects = new Map<string, Buffer>([
      [`${prefix}a.json`, Buffer.from(JSON.stringify({ hello: 'world' }))],
      [`${prefix}b.bin`, randomBytes(4096)],
      [`${prefix}nested/c.bin`, randomBytes(1)],
      [`${prefix}big.bin`, randomBytes(50 * 1024 * 1024)],
    ]);
    for (const [key, data] of objects) {
      // The big one goes as a stream of unknown length, so the client uploads it in parts.
      if (data.length > 1e6) await s3.putObject(bucket, key, Readable.from([data.subarray(0, 20e6), data.subarray(20e6)]));
      else await s3.putObject(bucket, key, data, data.length);
    }

    assert.deepEqual(await listKeys(prefix), [...objects.keys()].sort());
    for (const [key, data] of objects) {
      const stat = await s3.statObject(bucket, key);
      assert.equal(stat.size, data.length, `size of ${key}`);
      assert.equal(sha256(await getObjectBuffer(s3, bucket, key)), sha256(data), `sha256 of ${key}`);
    }

    await s3.removeObjects(bucket, [...objects.keys()]);
    assert.deepEqual(await listKeys(prefix), []);
    await assert.rejects(s3.statObject(bucket, `${prefix}a.json`), /Not Found|NoSuchKey|NotFound/);
  });
});
