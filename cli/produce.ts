// `fraudops produce`: publishes transactions (from a CSV file or a live simulation) to Kafka, each label
// after the chargeback delay; see simulator/producer.ts for the ordering and pacing rules.
import { type Command, InvalidArgumentError } from 'commander';
import { createIdempotentProducer, createKafka, ensureTopics } from '../clients/kafka';
import { loadConfig } from '../config';
import { InvalidInputError } from '../ml/errors';
import {
  type OutgoingMessage,
  parseTransactionsCsv,
  publicationOrder,
  publish,
  type SimulatorConfig,
  simulate,
  type Transaction,
} from '../simulator';
import { readInputFile } from './files';
import { progressBar } from './progress';
import { addSimulatorOptions } from './simulate';

interface ProduceOptions extends SimulatorConfig {
  csv?: string;
  simulate?: boolean;
  labelDelayDays?: number;
  rate?: number;
  speedup?: number;
  batchSize: number;
  transactionsTopic?: string;
  labelsTopic?: string;
  json?: boolean;
}

function positive(value: string): number {
  const parsed = Number(value);
  if (!(parsed > 0) || !Number.isFinite(parsed)) throw new InvalidArgumentError(`"${value}" is not a number > 0.`);
  return parsed;
}

function nonNegative(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 0) || !Number.isFinite(parsed) || value.trim() === '') throw new InvalidArgumentError(`"${value}" is not a number >= 0.`);
  return parsed;
}

function batchSize(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 100_000)
    throw new InvalidArgumentError(`"${value}" is not a whole number in [1, 100000].`);
  return parsed;
}

function transactionsOf(options: ProduceOptions): { transactions: Iterable<Transaction>; total: number } {
  if (options.csv) {
    const text = readInputFile(options.csv, '--csv');
    let total = 0;
    for (let i = text.indexOf('\n'); i >= 0 && i < text.length - 1; i = text.indexOf('\n', i + 1)) total += 1;
    return { transactions: parseTransactionsCsv(text, options.csv), total };
  }
  const { customers, terminals, days, startDate, radius, seed } = options;
  const dataset = simulate({ customers, terminals, days, startDate, radius, seed });
  function* rows(): Generator<Transaction> {
    for (let row = 0; row < dataset.size; row++) yield dataset.transaction(row);
  }
  return { transactions: rows(), total: dataset.size };
}

export function registerProduceCommands(program: Command): void {
  const command = program
    .command('produce')
    .description(
      'Publish transactions to Kafka as a card network would: each transaction (JSON, without its label, key CUSTOMER_ID) ' +
        'on the transactions topic at its time, and its label {TRANSACTION_ID, CUSTOMER_ID, TX_FRAUD, TX_FRAUD_SCENARIO} ' +
        'on the labels topic once the label delay (in simulated days) has passed. Give either --csv or --simulate. ' +
        'Without --rate or --speedup it publishes as fast as the broker acknowledges. The producer is idempotent ' +
        '(no duplicate from its own retries). Ctrl-C stops after the batch in flight and prints what was sent (exit 130).',
    )
    .option('--csv <file>', 'publish the transactions of this CSV file (handbook header, sorted by TX_DATETIME)')
    .option('--simulate', 'publish a live simulation; the simulator flags below apply');
  addSimulatorOptions(command)
    .option(
      '--label-delay-days <days>',
      'simulated days between a transaction and its label (default: producer.labelDelayDays)',
      nonNegative,
    )
    .option('--rate <n>', 'publish at most n messages per second', positive)
    .option('--speedup <s>', 'pace by simulated time: s simulated seconds per real second (86400: a day per second)', positive)
    .option('--batch-size <n>', 'messages per send (1 to 100000)', batchSize, 1000)
    .option('--transactions-topic <topic>', 'topic for transactions (default: topics.transactions)')
    .option('--labels-topic <topic>', 'topic for labels (default: topics.labels)')
    .option('--json', 'print the final counts as JSON')
    .action(async (options: ProduceOptions) => {
      if (Boolean(options.csv) === Boolean(options.simulate)) throw new InvalidInputError('give exactly one of --csv <file> or --simulate');
      const config = loadConfig();
      const topics = {
        transactions: options.transactionsTopic ?? config.topics.transactions,
        labels: options.labelsTopic ?? config.topics.labels,
      };
      const labelDelayDays = options.labelDelayDays ?? config.producer.labelDelayDays;
      const { transactions, total } = transactionsOf(options);

      const kafka = createKafka(config, 'fraudops-producer');
      const admin = kafka.admin();
      await admin.connect();
      await ensureTopics(admin, [topics.transactions, topics.labels], config.stack.kafka.partitions);
      await admin.disconnect();
      const producer = createIdempotentProducer(kafka);
      await producer.connect();

      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const bar = progressBar(process.stderr, 'produce transactions', total);
      const started = performance.now();
      let result: Awaited<ReturnType<typeof publish>>;
      try {
        const send = async (batch: OutgoingMessage[]) => {
          const byTopic = (stream: OutgoingMessage['stream']) =>
            batch.filter((m) => m.stream === stream).map(({ key, value }) => ({ key, value }));
          const topicMessages = [
            { topic: topics.transactions, messages: byTopic('transactions') },
            { topic: topics.labels, messages: byTopic('labels') },
          ].filter((t) => t.messages.length);
          await producer.sendBatch({ topicMessages, acks: -1 });
        };
        result = await publish(publicationOrder(transactions, labelDelayDays), send, {
          rate: options.rate,
          speedup: options.speedup,
          batchSize: options.batchSize,
          signal: abort.signal,
          onProgress: (counts) => bar.update(counts.transactions),
        });
      } finally {
        bar.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await producer.disconnect();
      }
      const seconds = (performance.now() - started) / 1000;
      const summary = { ...result, topics, labelDelayDays, seconds };
      if (options.json) console.log(JSON.stringify(summary, null, 2));
      else {
        console.log(
          `${result.interrupted ? 'interrupted: ' : ''}sent ${result.transactions} transactions to ${topics.transactions} and ` +
            `${result.labels} labels to ${topics.labels} in ${seconds.toFixed(1)} s` +
            (result.interrupted ? ` (${total - result.transactions} transactions not sent)` : ''),
        );
      }
      if (result.interrupted) process.exitCode = 130;
    });
}
