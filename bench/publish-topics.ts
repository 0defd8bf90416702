// What the benches publish: simulated transactions and labels to their topics with the idempotent producer, paced by
// event time when asked (bench/stream.ts, bench/soak.ts).
import { createIdempotentProducer, type Kafka } from '../clients/kafka';
import { type OutgoingMessage, publish } from '../simulator';

export async function publishToTopics(
  kafka: Kafka,
  topics: { transactions: string; labels: string },
  headers: Readonly<Record<string, string>> | undefined,
  messages: Iterable<OutgoingMessage>,
  options: { speedup?: number; batchSize: number },
): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await publish(
      messages,
      async (batch) => {
        const of = (stream: OutgoingMessage['stream']) =>
          batch.filter((m) => m.stream === stream).map(({ key, value }) => ({ key, value, headers }));
        const topicMessages = [
          { topic: topics.transactions, messages: of('transactions') },
          { topic: topics.labels, messages: of('labels') },
        ].filter((t) => t.messages.length);
        await producer.sendBatch({ topicMessages, acks: -1 });
      },
      options,
    );
  } finally {
    await producer.disconnect();
  }
}
