// The only module that knows the Kafka wire client (kafkajs). Swap it here for
// @confluentinc/kafka-javascript if throughput calls for it (DESIGN §2).
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import type { Config } from '../config';

export type { Admin, Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';

export function kafkaBrokers(config: Config): string[] {
  return [`${config.stack.host}:${config.stack.kafka.port}`];
}

export function createKafka(config: Config, clientId: string, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: kafkaBrokers(config),
    logLevel: logLevel.WARN,
    connectionTimeout: 3000,
    ...overrides,
  });
}

/** True when the broker answers a metadata request and has a controller. */
export async function kafkaHealthy(config: Config): Promise<boolean> {
  const admin = createKafka(config, 'fraudops-health', { retry: { retries: 0 }, logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null && cluster.controller >= 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
