// `fraudops experiment`: the offline experiment of ml/experiment.ts on a CSV file (read by the declared record contract,
// config `records:`) or a dataset snapshot.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { saveBundleToDir } from '../clients/bundle-store';
import { createS3 } from '../clients/s3';
import { loadSnapshot } from '../clients/snapshot-store';
import { loadConfig } from '../config';
import { columnsFromRecords, type SnapshotColumns } from '../dataset/snapshot';
import type { Interval } from '../ml/bootstrap';
import { packBundle } from '../ml/bundle';
import {
  AVERAGING_MODES,
  type AveragingMode,
  CLIPPING_MODES,
  type ClippingMode,
  DEFAULT_CLIPPING_STABILITY,
  DEFAULT_EMA_DECAY,
  OPTIMIZERS,
  type OptimizerKind,
} from '../ml/dpsgd';
import type { EbmSettings } from '../ml/ebm';
import { InvalidInputError } from '../ml/errors';
import {
  BALANCE_STRATEGIES,
  type BalanceStrategy,
  type ExperimentResult,
  hiddenLayersOf,
  MODEL_FAMILIES,
  type ModelFamily,
  runExperiment,
} from '../ml/experiment';
import { featureSetOf } from '../ml/feature-set';
import { renderPrivacyReport } from '../ml/privacy/report';
import { HANDBOOK_PROTOCOL, type ProtocolOptions, type ProtocolPlacement, protocolFor } from '../ml/protocol';
import { selectBackend } from '../ml/tensorflow';
import { readTransactionsCsv, recordContract, resolveDeclaration } from '../records';
import { numberIn, readInputFile } from './files';
import { progressBar } from './progress';

interface ExperimentCliOptions {
  data?: string;
  dataset?: string;
  trainStart?: string;
  trainDays: number;
  delayDays: number;
  testDays: number;
  validationDays: number;
  dp: 'on' | 'off';
  family: ModelFamily;
  targetEpsilon: number;
  delta: number;
  accountant: 'rdp' | 'pld';
  privacyUnit: 'transaction' | 'card';
  clipNorm: number;
  clipping: ClippingMode;
  samplingRate: number;
  batchSize: number;
  balance?: BalanceStrategy;
  smoteRatio: number;
  hidden: number[];
  epochs: number;
  learningRate?: number;
  lrDecay?: 'none' | 'cosine';
  optimizer: OptimizerKind;
  averaging: AveragingMode;
  emaDecay?: number;
  ebmRounds?: number;
  ebmLearningRate?: number;
  ebmBins?: number;
  ebmMaxLeaves?: number;
  ebmCardCap?: number;
  seed: number;
  saveBundle?: string;
  json?: boolean;
}

function widths(value: string): number[] {
  const list = value.split(',').map((w) => Number(w.trim()));
  if (!list.length || list.some((w) => !Number.isInteger(w) || w < 1 || w > 4096)) {
    throw new InvalidArgumentError(`"${value}" is not a comma-separated list of layer widths in [1, 4096].`);
  }
  return list;
}

function date(value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
    throw new InvalidArgumentError(`"${value}" is not a date YYYY-MM-DD.`);
  }
  return value;
}

async function loadData(options: ExperimentCliOptions): Promise<SnapshotColumns> {
  if (Boolean(options.data) === Boolean(options.dataset))
    throw new InvalidInputError('give exactly one of --data <file.csv> or --dataset <sha256>');
  const config = loadConfig();
  if (options.data) {
    const text = readInputFile(options.data, '--data');
    const contract = recordContract(config);
    return columnsFromRecords(readTransactionsCsv(text, options.data, contract, 'required'), contract.declaration);
  }
  const sha256 = options.dataset as string;
  const { columns } = await loadSnapshot(createS3(config), { bucket: config.stack.s3.bucket, prefix: config.ingest.datasetPrefix, sha256 });
  return columns;
}

/** The --ebm-* flags given: overrides of EBM_DEFAULTS (ml/ebm/family.ts). */
function ebmOverrides(o: ExperimentCliOptions): Partial<EbmSettings> {
  const given = { rounds: o.ebmRounds, learningRate: o.ebmLearningRate, bins: o.ebmBins, maxLeaves: o.ebmMaxLeaves, cardCap: o.ebmCardCap };
  return Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
}

/** "0.612 [0.581, 0.640]": a metric with its bootstrap interval. */
const withInterval = (value: number, interval: Interval) => `${value.toFixed(3)} [${interval.low.toFixed(3)}, ${interval.high.toFixed(3)}]`;
const percentOf = (level: number) => `${Number((100 * level).toPrecision(4))} %`;

const isoDay = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);

/** Says on stderr where the protocol went when its dates were not given and the handbook's do not fit the data. */
function reportPlacement(data: SnapshotColumns, protocol: ProtocolOptions, placement: ProtocolPlacement): void {
  if (placement !== 'latest') return;
  const range = data.rows ? `${isoDay(data.timestamp[0])} to ${isoDay(data.timestamp[data.rows - 1])}` : 'no rows';
  process.stderr.write(
    `experiment: the data (${range}) does not cover the handbook's protocol dates (training from ${HANDBOOK_PROTOCOL.trainStart}); ` +
      `without --train-start the protocol is placed at the end of the labelled data: training from ${protocol.trainStart}\n`,
  );
}

/** The issue's JSON shape: test metrics, privacy, timings (snake case), plus what the run used. */
export function experimentJson(
  result: ExperimentResult,
  options: ExperimentCliOptions,
  protocol: { trainStart: string; placement: ProtocolPlacement },
) {
  const p = result.privacy;
  return {
    test: {
      auc_roc: result.test.aucRoc,
      average_precision: result.test.averagePrecision,
      card_precision_at_100: result.test.cardPrecisionAt100,
      intervals: {
        average_precision: result.test.intervals.averagePrecision,
        card_precision_at_100: result.test.intervals.cardPrecisionAt100,
      },
      threshold: result.test.threshold,
      confusion: result.test.confusion,
      rows: result.test.rows,
      frauds: result.test.frauds,
    },
    validation: { auc_roc: result.validation.aucRoc, average_precision: result.validation.averagePrecision, f2: result.validation.f2 },
    privacy: {
      dp: options.dp === 'on',
      epsilon: p.perExample?.epsilon ?? null,
      delta: p.perExample?.delta ?? null,
      per_record_epsilon: p.perRecord?.epsilon ?? null,
      per_record_delta: p.perRecord?.delta ?? null,
      noise_multiplier: p.training?.noiseMultiplier ?? null,
      sampling_rate: p.training?.samplingRate ?? null,
      steps: p.training?.steps ?? null,
      accountant: p.training?.accountant ?? null,
      unit: p.training?.unit ?? null,
      units: p.training?.units ?? null,
      assumptions: p.assumptions,
      covered: p.covered,
      reasons: p.reasons,
    },
    data: result.data,
    settings: {
      train_start: protocol.trainStart,
      protocol_placement: protocol.placement,
      family: options.family,
      balance: options.balance,
      hidden: hiddenLayersOf(options.family, options.hidden),
      epochs: options.epochs,
      learning_rate: options.learningRate,
      lr_decay: options.lrDecay,
      optimizer: options.optimizer,
      averaging: options.averaging,
      ema_decay: options.emaDecay ?? null,
      ebm: options.family === 'ebm' ? ebmOverrides(options) : null,
      clip_norm: options.clipNorm,
      clipping: options.clipping,
      sampling_rate: options.samplingRate,
      batch_size: options.batchSize,
      seed: options.seed,
    },
    seconds: result.seconds,
  };
}

export function registerExperimentCommands(program: Command): void {
  const h = HANDBOOK_PROTOCOL;
  program
    .command('experiment')
    .description(
      'Run features → split → balance → train → evaluate in process, with the handbook protocol: train on --train-days from ' +
        '--train-start, skip --delay-days, test on the next --test-days one day at a time with the cards already known ' +
        'compromised removed; the F2-optimal threshold is chosen on the --validation-days before training. Prints test ' +
        'ROC AUC, average precision and card precision@100, the privacy guarantee and timings. Progress goes to stderr.',
    )
    .option(
      '--data <file.csv>',
      'labelled transactions, a CSV whose header names the columns declared under records: in config.yaml (default: the ' +
        'handbook header, e.g. from fraudops simulate)',
    )
    .option('--dataset <sha256>', 'a dataset snapshot written by fraudops ingest (read from S3)')
    .option(
      '--train-start <date>',
      `first training day, UTC (default: the handbook's ${h.trainStart} when the data covers the handbook's protocol dates, ` +
        'else the protocol placed at the end of the labelled data, as the pipeline does)',
      date,
    )
    .option('--train-days <n>', 'days of training data', numberIn(1, 365, true), h.trainDays)
    .option(
      '--delay-days <n>',
      'label delay: days skipped between training and test, and the terminal features’ shift',
      numberIn(0, 60, true),
      h.delayDays,
    )
    .option('--test-days <n>', 'test days after the delay', numberIn(1, 365, true), h.testDays)
    .option('--validation-days <n>', 'days before training used to choose the threshold', numberIn(1, 365, true), h.validationDays)
    .addOption(new Option('--dp <on|off>', 'train with DP-SGD (on) or without privacy (off)').choices(['on', 'off']).default('on'))
    .addOption(
      new Option(
        '--family <name>',
        'model family: logistic (DP-SGD logistic regression, no hidden layer: --hidden is ignored), quadratic (the same over ' +
          'the inputs and their pairwise products), mlp (DP-SGD MLP), ebm (DP explainable boosting machine)',
      )
        .choices([...MODEL_FAMILIES])
        .default('mlp'),
    )
    .option('--target-epsilon <e>', 'ε of the guarantee; the noise multiplier is calibrated to it', numberIn(0, 100, false, true), 1)
    .option('--delta <d>', 'δ of the guarantee (must be below 1/N of the training rows)', numberIn(0, 1e-2, false, true), 1e-6)
    .addOption(
      new Option('--accountant <name>', 'privacy accountant (pld is tighter: less noise for the same ε)')
        .choices(['rdp', 'pld'])
        .default('pld'),
    )
    .addOption(
      new Option(
        '--privacy-unit <unit>',
        'DP: what the guarantee protects: transaction (one row) or card (every transaction of one pseudonymised card: cards are ' +
          'Poisson-sampled and each card’s summed gradient is clipped, user-level DP-SGD)',
      )
        .choices(['transaction', 'card'])
        .default('transaction'),
    )
    .option('--clip-norm <c>', 'per-example gradient clipping norm C', numberIn(0, 1e3, false, true), 3)
    .addOption(
      new Option(
        '--clipping <mode>',
        `DP: flat clips each unit’s gradient g to min(1, C/‖g‖)·g; automatic normalises it to C·g/(‖g‖ + ${DEFAULT_CLIPPING_STABILITY}) (Bu et al. 2023), ` +
          'so C acts as a step-size factor; both bound a unit by C: same noise, same ε',
      )
        .choices([...CLIPPING_MODES])
        .default('flat'),
    )
    .option('--sampling-rate <q>', 'DP: Poisson sampling probability per example per step', numberIn(0, 1, false, true), 0.1)
    .option('--batch-size <n>', 'non-private: mini-batch size', numberIn(1, 1e6, true), 256)
    .addOption(
      new Option(
        '--balance <strategy>',
        'smote: synthetic minority rows; class-weight: weighted loss; stratified: class-stratified Poisson sampling (DP only); none ' +
          '(default: class-weight with DP, none without)',
      ).choices([...BALANCE_STRATEGIES]),
    )
    .option('--smote-ratio <r>', 'SMOTE target minority/majority ratio', numberIn(0, 1, false, true), 0.1)
    .option('--hidden <widths>', 'hidden layer widths, comma-separated', widths, [64, 32])
    .option('--epochs <n>', 'passes over the training data (DP: steps = epochs / q)', numberIn(1, 1000, true), 30)
    .option('--learning-rate <lr>', 'optimizer step size (default: 0.02 with DP, 0.003 without)', numberIn(0, 10, false, true))
    .addOption(
      new Option(
        '--lr-decay <schedule>',
        'none: constant step size; cosine: decays to 0 over the run (default: none with DP, cosine without)',
      ).choices(['none', 'cosine']),
    )
    .addOption(
      new Option(
        '--optimizer <name>',
        'optimizer: adam, sgd, or adam-bc (DP-AdamBC, Tang et al. 2024: Adam whose second moment has the known DP noise variance ' +
          '(σC/B)² removed)',
      )
        .choices([...OPTIMIZERS])
        .default('adam'),
    )
    .addOption(
      new Option(
        '--averaging <mode>',
        'none: the model is the last iterate; ema: the exponential moving average of the iterates (post-processing: no privacy cost)',
      )
        .choices([...AVERAGING_MODES])
        .default('none'),
    )
    .option(
      '--ema-decay <d>',
      `with --averaging ema: the decay of the average, in (0, 1) (default ${DEFAULT_EMA_DECAY})`,
      numberIn(0, 1, false, true),
    )
    .option('--ebm-rounds <n>', 'family ebm: boosting rounds (each costs privacy)', numberIn(1, 10_000, true))
    .option('--ebm-learning-rate <lr>', 'family ebm: step size of each round', numberIn(0, 10, false, true))
    .option('--ebm-bins <n>', 'family ebm: most bins per input (public cuts from the declared bounds)', numberIn(2, 1024, true))
    .option('--ebm-max-leaves <n>', 'family ebm: leaves per input per round (random contiguous groups of bins)', numberIn(2, 1024, true))
    .option(
      '--ebm-card-cap <c>',
      'family ebm, card unit: the cap on a card’s total weight in one histogram (its sensitivity)',
      numberIn(0, 1e6, false, true),
    )
    .option(
      '--seed <n>',
      'seed of the public randomness: weight initialisation, SMOTE and the non-private batch order (the splits are by time). ' +
        'Never the DP noise or the DP sample: those come from fresh secret keys, so two --dp on runs give two different models',
      numberIn(0, 2 ** 31, true),
      0,
    )
    .option('--save-bundle <dir>', 'write the model bundle (model, transform, threshold, metrics, privacy report) to this directory')
    .option('--json', 'print the result as JSON')
    .action(async (cliOptions: ExperimentCliOptions) => {
      // Defaults that depend on --dp: the settings that did best in the handbook-protocol sweep (see the README's table).
      const dp = cliOptions.dp === 'on';
      const options = {
        ...cliOptions,
        balance: cliOptions.balance ?? (dp ? 'class-weight' : 'none'),
        learningRate: cliOptions.learningRate ?? (dp ? 0.02 : 0.003),
        lrDecay: cliOptions.lrDecay ?? (dp ? 'none' : 'cosine'),
      } satisfies ExperimentCliOptions;
      const data = await loadData(options);
      const { protocol, placement } = protocolFor(
        data,
        { trainDays: options.trainDays, delayDays: options.delayDays, testDays: options.testDays, validationDays: options.validationDays },
        options.trainStart,
      );
      reportPlacement(data, protocol, placement);
      await selectBackend(loadConfig().tensorflow.backend, () => undefined);
      let bar: ReturnType<typeof progressBar> | undefined;
      const result = await runExperiment(
        data,
        {
          protocol,
          family: options.family,
          balance: options.balance,
          smoteRatio: options.smoteRatio,
          smoteK: 5,
          dp: options.dp === 'on',
          targetEpsilon: options.targetEpsilon,
          delta: options.delta,
          accountant: options.accountant,
          privacyUnit: options.privacyUnit,
          clipNorm: options.clipNorm,
          clipping: options.clipping,
          samplingRate: options.samplingRate,
          batchSize: options.batchSize,
          hidden: options.hidden,
          epochs: options.epochs,
          learningRate: options.learningRate,
          learningRateDecay: options.lrDecay,
          optimizer: options.optimizer,
          averaging: options.averaging,
          emaDecay: options.emaDecay,
          ebm: ebmOverrides(options),
          transform: 'fixed',
          seed: options.seed,
          features: featureSetOf(resolveDeclaration(loadConfig().records)),
        },
        (progress) => {
          bar ??= progressBar(process.stderr, 'experiment train steps', progress.totalSteps);
          bar.update(progress.step);
        },
      );
      bar?.stop();
      const json = experimentJson(result, options, { trainStart: protocol.trainStart, placement });
      if (options.saveBundle) {
        const files = await packBundle({
          model: result.model.parameters,
          transform: result.model.transform,
          features: result.model.features,
          labelDelayDays: result.model.labelDelayDays,
          threshold: result.model.threshold,
          metrics: { test: json.test, validation: json.validation },
          privacy: result.privacy,
          createdAt: new Date().toISOString(),
        });
        await saveBundleToDir(files, options.saveBundle);
      }
      if (options.json) {
        console.log(JSON.stringify(json, null, 2));
        return;
      }
      const t = json.test;
      console.log(
        [
          `train ${result.data.periods.train.from}..${result.data.periods.train.to}: ${result.data.train.rows} transactions, ${result.data.train.frauds} frauds` +
            ` (${result.data.train.examplesAfterBalance} examples after ${options.balance})`,
          `test ${result.data.periods.test.from}..${result.data.periods.test.to}: ${t.rows} transactions, ${t.frauds} frauds ` +
            `(${result.data.test.removedKnownCompromised} removed: cards known compromised)`,
          `test AUC ROC ${t.auc_roc.toFixed(3)}, AP ${withInterval(t.average_precision, t.intervals.average_precision)}, ` +
            `CP@100 ${withInterval(t.card_precision_at_100, t.intervals.card_precision_at_100)} ` +
            `(${percentOf(t.intervals.average_precision.level)} bootstrap intervals over test cards); ` +
            `threshold ${t.threshold.toFixed(4)} (F2 on validation ${json.validation.f2.toFixed(3)})`,
          renderPrivacyReport(result.privacy).split('\n').slice(0, 6).join('\n'),
          `seconds: ${Object.entries(result.seconds)
            .map(([k, v]) => `${k} ${v.toFixed(1)}`)
            .join(', ')}`,
        ].join('\n'),
      );
    });
}
