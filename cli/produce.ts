// `fraudops produce`: publishes transactions (from a CSV file read by the `records:` declaration, or a live
// simulation) to Kafka through the record contract, each label after the chargeback delay; see
// simulator/producer.ts for the ordering and pacing rules.
import { type Command, InvalidArgumentError } from 'commander';
import { createIdempotentProducer, createKafka, ensureTopics, type OutgoingRecord, retentionByTopic } from '../clients/kafka';
import { loadConfig } from '../config';
import { InvalidInputError } from '../ml/errors';
import {
  csvRecords,
  describeProblems,
  type FieldProblem,
  type IdEncoding,
  type RecordContract,
  recordContract,
  type TxRecord,
} from '../records';
import {
  type OutgoingMessage,
  publicationOrder,
  publish,
  type SimulatedDataset,
  type SimulatorConfig,
  simulate,
  TimeOrder,
  TRANSACTION_COLUMNS,
} from '../simulator';
import { readInputFile } from './files';
import { progressBar } from './progress';
import { addSimulatorOptions } from './simulate';

interface ProduceOptions extends SimulatorConfig {
  csv?: string;
  simulate?: boolean;
  skipBad?: boolean;
  labelDelayDays?: number;
  rate?: number;
  speedup?: number;
  batchSize: number;
  transactionsTopic?: string;
  labelsTopic?: string;
  dlqTopic?: string;
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

/** A CSV row that cannot be published: why, and its values made safe to keep (scrubbed by the contract). */
export interface BadRow {
  line: number;
  reason: 'schema' | 'out-of-order';
  problems: FieldProblem[];
  value: Record<string, unknown> | null;
}

/**
 * The records of a CSV file in file order (header in any order, labels optional). A row that breaks the declaration,
 * or lies further back in time than records.lateness, goes to `onBad`; without it, it stops the read with its line,
 * column and rule.
 */
export function* csvTransactions(
  text: string,
  source: string,
  contract: RecordContract,
  onBad?: (bad: BadRow) => void,
): Generator<TxRecord> {
  const order = new TimeOrder(contract.declaration.latenessSeconds);
  for (const row of csvRecords(text, source, contract, 'optional')) {
    let bad: BadRow | undefined;
    if (row.problems) bad = { line: row.line, reason: 'schema', problems: row.problems, value: contract.scrub(row.values) };
    else {
      const behind = order.behind(row.record.time);
      if (!behind) {
        yield row.record;
        continue;
      }
      const problems = [{ field: contract.declaration.time.column, rule: order.rule(behind) }];
      bad = { line: row.line, reason: 'out-of-order', problems, value: contract.transactionMessage(row.record) };
    }
    if (!onBad) throw new InvalidInputError(`${source} line ${bad.line}: ${describeProblems(bad.problems)}`);
    onBad(bad);
  }
}

/** The DLQ record of a bad row: the file and line, the reason and problems, the scrubbed values. */
export function dlqRecord(source: string, bad: BadRow): OutgoingRecord {
  const where = `${source}:${bad.line}`;
  return {
    key: where,
    value: JSON.stringify({ source, line: bad.line, reason: bad.reason, problems: bad.problems, value: bad.value }),
    headers: { reason: bad.reason, source: where },
  };
}

/** The simulator's rows (handbook records) read by the config's contract, which pseudonymizes what it declares. */
export function* simulatedTransactions(dataset: SimulatedDataset, contract: RecordContract): Generator<TxRecord> {
  for (let row = 0; row < dataset.size; row++) {
    const read = contract.readTransaction(dataset.transaction(row), { labels: 'required' });
    if (!read.value) {
      throw new InvalidInputError(
        `--simulate writes the handbook's records (${TRANSACTION_COLUMNS.join(', ')}), but records: in the config ` +
          `declares another record: ${describeProblems(read.problems)}`,
      );
    }
    yield read.value;
  }
}

function lineCount(text: string): number {
  let total = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < text.length - 1; i = text.indexOf('\n', i + 1)) total += 1;
  return total;
}

export function registerProduceCommands(program: Command): void {
  const command = program
    .command('produce')
    .description(
      'Publish transactions to Kafka as a card network would: each transaction (JSON with the fields records: declares, ' +
        'without its label and dropped columns, declared roles pseudonymized; key: the card id) on the transactions topic ' +
        'at its time, and its label (transaction id, card id, label and label columns) on the labels topic once the label ' +
        'delay has passed. Give either --csv or --simulate. A CSV row that breaks the declaration, or lies further back in ' +
        'time than records.lateness, stops the run before anything is published, naming its line, column and rule; ' +
        'with --skip-bad each such row goes to the DLQ topic with the reason instead. Without --rate or --speedup it ' +
        'publishes as fast as the broker acknowledges. The producer is idempotent (no duplicate from its own retries). ' +
        'Ctrl-C stops after the batch in flight and prints what was sent (exit 130).',
    )
    .option(
      '--csv <file>',
      'publish the rows of this CSV file: a header naming the declared columns (any order; others ignored), ' +
        'quoted fields allowed, rows in time order within records.lateness; a row with a label carries it to the labels topic',
    )
    .option('--skip-bad', 'with --csv: send each bad row to the DLQ topic with its line and problems (values scrubbed) and go on')
    .option('--simulate', 'publish a live simulation (handbook records); the simulator flags below apply');
  addSimulatorOptions(command)
    .option(
      '--label-delay-days <days>',
      'days of event time between a transaction and its label (default: producer.labelDelayDays)',
      nonNegative,
    )
    .option('--rate <n>', 'publish at most n messages per second', positive)
    .option('--speedup <s>', 'pace by event time: s event seconds per real second (86400: a day per second)', positive)
    .option('--batch-size <n>', 'messages per send (1 to 100000)', batchSize, 1000)
    .option('--transactions-topic <topic>', 'topic for transactions (default: topics.transactions)')
    .option('--labels-topic <topic>', 'topic for labels (default: topics.labels)')
    .option('--dlq-topic <topic>', 'topic for the bad rows of --skip-bad (default: topics.dlq)')
    .option('--json', 'print the final counts as JSON')
    .action(async (options: ProduceOptions) => {
      if (Boolean(options.csv) === Boolean(options.simulate)) throw new InvalidInputError('give exactly one of --csv <file> or --simulate');
      if (options.skipBad && !options.csv) throw new InvalidInputError('--skip-bad applies to --csv only');
      const config = loadConfig();
      const contract = recordContract(config);
      const topics = {
        transactions: options.transactionsTopic ?? config.topics.transactions,
        labels: options.labelsTopic ?? config.topics.labels,
        dlq: options.dlqTopic ?? config.topics.dlq,
      };
      const labelDelayDays = options.labelDelayDays ?? config.producer.labelDelayDays;

      const rejected: OutgoingRecord[] = [];
      let records: Iterable<TxRecord>;
      let total: number;
      // A CSV's ids are text; the simulator's are the handbook's integers and go out as JSON numbers.
      let ids: IdEncoding = 'string';
      if (options.csv) {
        const source = options.csv;
        const text = readInputFile(source, '--csv');
        total = lineCount(text);
        if (!options.skipBad) {
          // Every row is checked before the first is published: a bad file publishes nothing.
          const bar = progressBar(process.stderr, 'produce check rows', total);
          let checked = 0;
          try {
            for (const _ of csvTransactions(text, source, contract)) if (++checked % 10_000 === 0) bar.update(checked);
          } finally {
            bar.stop();
          }
        }
        const onBad = options.skipBad ? (bad: BadRow) => rejected.push(dlqRecord(source, bad)) : undefined;
        records = csvTransactions(text, source, contract, onBad);
      } else {
        const { customers, terminals, days, startDate, radius, seed } = options;
        const dataset = simulate({ customers, terminals, days, startDate, radius, seed });
        records = simulatedTransactions(dataset, contract);
        total = dataset.size;
        ids = 'integer';
      }

      const kafka = createKafka(config, 'fraudops-producer');
      const admin = kafka.admin();
      await admin.connect();
      await ensureTopics(
        admin,
        options.skipBad ? Object.values(topics) : [topics.transactions, topics.labels],
        config.stack.kafka.partitions,
        retentionByTopic(topics, config.topicRetention),
      );
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
      let dlqSent = 0;
      try {
        const sendDlq = () => {
          const messages = rejected.splice(0);
          dlqSent += messages.length;
          return messages.length ? [{ topic: topics.dlq, messages }] : [];
        };
        const send = async (batch: OutgoingMessage[]) => {
          const byTopic = (stream: OutgoingMessage['stream']) =>
            batch.filter((m) => m.stream === stream).map(({ key, value }) => ({ key, value, headers: contract.admittedHeaders }));
          const topicMessages = [
            { topic: topics.transactions, messages: byTopic('transactions') },
            { topic: topics.labels, messages: byTopic('labels') },
            ...sendDlq(),
          ].filter((t) => t.messages.length);
          await producer.sendBatch({ topicMessages, acks: -1 });
        };
        result = await publish(publicationOrder(records, contract, labelDelayDays, ids), send, {
          rate: options.rate,
          speedup: options.speedup,
          batchSize: options.batchSize,
          signal: abort.signal,
          onProgress: (counts) => bar.update(counts.transactions),
        });
        // Bad rows after the last published batch.
        const rest = sendDlq();
        if (rest.length) await producer.sendBatch({ topicMessages: rest, acks: -1 });
      } finally {
        bar.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await producer.disconnect();
      }
      const seconds = (performance.now() - started) / 1000;
      const summary = { ...result, rejected: dlqSent, topics, labelDelayDays, seconds };
      if (options.json) console.log(JSON.stringify(summary, null, 2));
      else {
        console.log(
          `${result.interrupted ? 'interrupted: ' : ''}sent ${result.transactions} transactions to ${topics.transactions} and ` +
            `${result.labels} labels to ${topics.labels} in ${seconds.toFixed(1)} s` +
            (dlqSent ? `; ${dlqSent} bad rows to ${topics.dlq}` : '') +
            (result.interrupted ? ` (${total - result.transactions} transactions not sent)` : ''),
        );
      }
      if (result.interrupted) process.exitCode = 130;
    });
}
