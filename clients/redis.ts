// The only module that knows the Redis wire client (ioredis).
import Redis from 'ioredis';
import { type Config, serviceHostOf } from '../config';

export type { Redis };

export function createRedis(config: Config, options: { lazyConnect?: boolean; retries?: number } = {}): Redis {
  return new Redis({
    host: serviceHostOf(config, 'redis'),
    port: config.stack.redis.port,
    lazyConnect: options.lazyConnect ?? false,
    maxRetriesPerRequest: options.retries ?? 3,
    connectTimeout: 3000,
  });
}

/** The server's version, or undefined when it does not answer PING. */
export async function redisVersion(config: Config): Promise<string | undefined> {
  const redis = createRedis(config, { lazyConnect: true, retries: 0 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    if ((await redis.ping()) !== 'PONG') return undefined;
    const info = await redis.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1];
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}
