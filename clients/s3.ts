// The only module that knows the S3 wire client (minio: maintained, speaks any S3).
import { Client } from 'minio';
import { type Config, serviceHostOf } from '../config';

export type S3 = Client;

export function s3Endpoint(config: Config): string {
  return `http://${serviceHostOf(config, 's3')}:${config.stack.s3.port}`;
}

export function createS3(config: Config): Client {
  return new Client({
    endPoint: serviceHostOf(config, 's3'),
    port: config.stack.s3.port,
    useSSL: false,
    accessKey: config.secrets.S3_ACCESS_KEY,
    secretKey: config.secrets.S3_SECRET_KEY,
    region: config.stack.s3.region,
    pathStyle: true,
  });
}

/** Creates the project bucket when it does not exist (idempotent). */
export async function ensureBucket(config: Config, s3 = createS3(config)): Promise<void> {
  const { bucket, region } = config.stack.s3;
  if (!(await s3.bucketExists(bucket))) await s3.makeBucket(bucket, region);
}

/** True when the store answers an authenticated request for the project bucket. */
export async function s3Healthy(config: Config): Promise<boolean> {
  try {
    await ensureBucket(config);
    return true;
  } catch {
    return false;
  }
}

/** Every key under `prefix` (recursively), or only those after `startAfter` in key order. */
export async function listKeys(s3: Client, bucket: string, prefix: string, startAfter?: string): Promise<string[]> {
  return (await listObjects(s3, bucket, prefix, startAfter)).map((object) => object.key);
}

/** Every object under `prefix` with its ETag, unquoted ('' when the store gives none): it changes with the content. */
export async function listObjects(
  s3: Client,
  bucket: string,
  prefix: string,
  startAfter?: string,
): Promise<Array<{ key: string; etag: string }>> {
  const objects: Array<{ key: string; etag: string }> = [];
  for await (const item of s3.listObjectsV2(bucket, prefix, true, startAfter)) {
    if (item.name) objects.push({ key: item.name, etag: (item.etag ?? '').replace(/"/g, '') });
  }
  return objects;
}

/** Reads a whole object into memory. */
export async function getObjectBuffer(s3: Client, bucket: string, key: string): Promise<Buffer> {
  const stream = await s3.getObject(bucket, key);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes a whole object from memory. */
export async function putObjectBuffer(
  s3: Client,
  bucket: string,
  key: string,
  content: Uint8Array | string,
  contentType?: string,
): Promise<void> {
  const body = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  await s3.putObject(bucket, key, body, body.length, contentType ? { 'Content-Type': contentType } : {});
}
