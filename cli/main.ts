// The `fraudops` command. Each command group lives in its own module and registers itself here.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config';
import { registerBalanceCommands } from './balance';
import { registerExperimentCommands } from './experiment';
import { registerIngestCommands } from './ingest';
import { registerModelCommands } from './model';
import { registerPipelineCommands } from './pipeline';
import { registerPrivacyCommands } from './privacy';
import { registerProduceCommands } from './produce';
import { registerQualityMonitorCommands } from './quality-monitor';
import { registerScheduleCommands } from './schedule';
import { registerScoreStreamCommands } from './score-stream';
import { registerServeCommands } from './serve';
import { registerSimulateCommands } from './simulate';
import { registerStackCommands } from './stack';
import { registerTuneCommands } from './tune';
import { registerUpCommands } from './up';
import { registerValidateCommands } from './validate';
import { registerWorkerCommands } from './worker';

export function buildProgram(): Command {
  const program = new Command('fraudops')
    .description(
      'Fraud-detection MLOps: Temporal pipelines, Kafka streams, DP-SGD training, MLflow registry. ' +
        'Settings come from config.yaml (or $FRAUDOPS_CONFIG) and secrets from .env.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerStackCommands(program);
  registerSimulateCommands(program);
  registerProduceCommands(program);
  registerIngestCommands(program);
  registerValidateCommands(program);
  registerBalanceCommands(program);
  registerPrivacyCommands(program);
  registerExperimentCommands(program);
  registerModelCommands(program);
  registerWorkerCommands(program);
  registerPipelineCommands(program);
  registerTuneCommands(program);
  registerScheduleCommands(program);
  registerServeCommands(program);
  registerUpCommands(program);
  registerScoreStreamCommands(program);
  registerQualityMonitorCommands(program);
  return program;
}

/** Errors whose message says everything a user needs; anything else is a bug. */
const EXPECTED_ERRORS = new Set([
  'StackError',
  'InstallError',
  'InvalidInputError',
  'KafkaGroupBusyError',
  'DataValidationError',
  'BundleIntegrityError',
  'RegistryError',
  'MlflowError',
  'PipelineCommandError',
  'ScheduleNotFoundError',
  'NoUsableGpuError',
  'TuningError',
]);

/** Known failures print their message only; anything else is a bug and keeps its stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    // A command reports a non-zero status without throwing by setting process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ConfigError) {
      console.error(`fraudops: config error: ${err.message}`);
      return 2;
    }
    if (err instanceof Error && EXPECTED_ERRORS.has(err.name)) {
      console.error(`fraudops: ${err.message}`);
      return 1;
    }
    console.error(err);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
