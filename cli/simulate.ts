// `fraudops simulate`: the Handbook transaction simulator, written to a CSV file with a summary.
import { type Command, InvalidArgumentError } from 'commander';
import {
  CONFIG_RULES,
  HANDBOOK_DEFAULTS,
  type ProgressListener,
  type SimulationSummary,
  type SimulatorConfig,
  simulate,
  summarize,
  TRANSACTION_COLUMNS,
  writeCsv,
} from '../simulator';
import { outputPath } from './files';
import { type Progress, progressBar } from './progress';

/** A flag parser that applies the simulator's rule for `field`. */
function flagParser(field: keyof SimulatorConfig, kind: 'whole' | 'number' | 'text'): (value: string) => number | string {
  return (text: string) => {
    const value = kind === 'text' ? text : kind === 'whole' && !/^[+-]?\d+$/.test(text.trim()) ? Number.NaN : Number(text);
    if (text.trim() === '' || !CONFIG_RULES[field].ok(value)) throw new InvalidArgumentError(`must be ${CONFIG_RULES[field].rule}.`);
    return value;
  };
}

const PHASE_LABELS = { profiles: 'profiles', transactions: 'customers', frauds: 'frauds', write: 'rows written' } as const;

/** One progress bar per phase (phases of a single step, like profiles and frauds, take a fraction of a second). */
function progressReporter(stream: NodeJS.WriteStream): { listener: ProgressListener; stop: () => void } {
  let current: { phase: string; progress: Progress } | undefined;
  const stop = () => {
    current?.progress.stop();
    current = undefined;
  };
  const listener: ProgressListener = ({ phase, done, total }) => {
    if (total <= 1) return;
    if (current?.phase !== phase) {
      stop();
      current = { phase, progress: progressBar(stream, `simulate ${PHASE_LABELS[phase]}`, total) };
    }
    current.progress.update(done);
  };
  return { listener, stop };
}

const count = (n: number) => n.toLocaleString('en-US');
const percent = (share: number, digits = 1) => `${(100 * share).toFixed(digits)} %`;

function formatSummary(summary: SimulationSummary, config: SimulatorConfig, out: string, bytes: number, seconds: number): string {
  const { scenarioCounts: counts, scenarioShares: shares } = summary;
  return [
    `wrote ${out}: ${count(summary.rows)} transactions, ${(bytes / 1e6).toFixed(1)} MB, in ${seconds.toFixed(1)} s`,
    `frauds: ${count(summary.frauds)} (${percent(summary.fraudRate, 3)}); by scenario: 1 (amount > 220) ${count(counts[1])} ` +
      `(${percent(shares[1])}), 2 (terminal) ${count(counts[2])} (${percent(shares[2])}), 3 (card) ${count(counts[3])} (${percent(shares[3])})`,
    `customers: ${count(summary.activeCustomers)} of ${count(config.customers)} active, ` +
      `${summary.meanTerminalsPerCustomer.toFixed(1)} terminals within ${config.radius} on average; mean amount ${summary.meanAmount.toFixed(2)}`,
    `period: ${summary.firstDatetime ?? '-'} to ${summary.lastDatetime ?? '-'} (UTC, ${config.days} days from ${config.startDate}, seed ${config.seed})`,
  ].join('\n');
}

interface SimulateOptions extends SimulatorConfig {
  out: string;
  json?: boolean;
}

/** The simulator's flags with the handbook defaults; `fraudops simulate` and `fraudops produce --simulate` share them. */
export function addSimulatorOptions(command: Command): Command {
  const d = HANDBOOK_DEFAULTS;
  return command
    .option('--customers <n>', `number of customers (${CONFIG_RULES.customers.rule})`, flagParser('customers', 'whole'), d.customers)
    .option('--terminals <n>', `number of terminals (${CONFIG_RULES.terminals.rule})`, flagParser('terminals', 'whole'), d.terminals)
    .option('--days <n>', `number of simulated days (${CONFIG_RULES.days.rule})`, flagParser('days', 'whole'), d.days)
    .option('--start-date <date>', `first day, UTC (${CONFIG_RULES.startDate.rule})`, flagParser('startDate', 'text'), d.startDate)
    .option(
      '--radius <r>',
      `a customer uses the terminals closer than r on the 100 x 100 square (${CONFIG_RULES.radius.rule})`,
      flagParser('radius', 'number'),
      d.radius,
    )
    .option('--seed <n>', `seed of every random stream (${CONFIG_RULES.seed.rule})`, flagParser('seed', 'whole'), d.seed);
}

export function registerSimulateCommands(program: Command): void {
  const command = program
    .command('simulate')
    .description(
      'Generate transactions with the Handbook simulator (Le Borgne et al., chapter 3), write them as CSV sorted by time ' +
        `(${TRANSACTION_COLUMNS.join(', ')}; TX_DATETIME in UTC: the handbook record, what the default records: ` +
        'declaration reads) and print a summary. ' +
        'The defaults reproduce the book dataset (about 1.75 M transactions, 0.84 % fraud); the same flags give a byte-identical file. ' +
        'Progress goes to stderr.',
    );
  addSimulatorOptions(command)
    .requiredOption('--out <path>', 'CSV file to write (its directory must exist; replaced only once complete)', outputPath)
    .option('--json', 'print the summary as JSON instead of text')
    .action(async (options: SimulateOptions) => {
      const { out, json, ...config } = options;
      const started = performance.now();
      const progress = progressReporter(process.stderr);
      let bytes: number;
      let summary: SimulationSummary;
      try {
        const dataset = simulate(config, progress.listener);
        bytes = await writeCsv(dataset, out, progress.listener);
        summary = summarize(dataset);
      } finally {
        progress.stop();
      }
      const seconds = (performance.now() - started) / 1000;
      if (json) console.log(JSON.stringify({ out, bytes, seconds, config, ...summary }, null, 2));
      else console.log(formatSummary(summary, config, out, bytes, seconds));
    });
}
