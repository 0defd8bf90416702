// `fraudops privacy ...`: ε of DP-SGD's Poisson-subsampled Gaussian mechanism, and the noise multiplier for a target ε.
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  type Accountant,
  DEFAULT_VALUE_DISCRETIZATION_INTERVAL,
  epsilon,
  noiseMultiplierFor,
  PARAM_RULES,
  type ParamName,
} from '../ml/privacy';

/** A commander parser enforcing the same rule as the accountants' own input check. */
function ruleParser(name: ParamName): (value: string) => number {
  return (value) => {
    const parsed = value.trim() === '' ? Number.NaN : Number(value);
    if (!PARAM_RULES[name].holds(parsed)) throw new InvalidArgumentError(`"${value}" is not ${PARAM_RULES[name].text}`);
    return parsed;
  };
}

// `prv` is accepted for the numerical-composition accountant the issue names; ours is a PLD (same role, see ml/privacy/pld.ts).
const ACCOUNTANT_CHOICES = ['rdp', 'pld', 'prv'];
const accountantOption = () =>
  new Option('--accountant <name>', 'rdp (Rényi DP, Balle et al. conversion) or pld (privacy loss distribution, tighter; prv is an alias)')
    .choices(ACCOUNTANT_CHOICES)
    .default('rdp');
const intervalOption = () =>
  new Option('--pld-interval <delta>', 'privacy-loss grid step of the pld accountant (smaller is tighter and slower)')
    .argParser(ruleParser('valueDiscretizationInterval'))
    .default(DEFAULT_VALUE_DISCRETIZATION_INTERVAL);

const accountantName = (choice: string): Accountant => (choice === 'rdp' ? 'rdp' : 'pld');

interface CommonOptions {
  samplingRate: number;
  steps: number;
  delta: number;
  accountant: string;
  pldInterval: number;
  json?: boolean;
}

export function registerPrivacyCommands(program: Command): void {
  const privacy = program
    .command('privacy')
    .description('Differential-privacy accounting for DP-SGD: Poisson sampling at rate q, Gaussian noise σ·C, T steps');

  privacy
    .command('epsilon')
    .description('ε at the given δ after T steps')
    .requiredOption(
      '--sampling-rate <q>',
      `Poisson sampling probability per record per step, ${PARAM_RULES.samplingRate.text}`,
      ruleParser('samplingRate'),
    )
    .requiredOption(
      '--noise-multiplier <sigma>',
      `noise std / clipping norm, ${PARAM_RULES.noiseMultiplier.text}`,
      ruleParser('noiseMultiplier'),
    )
    .requiredOption('--steps <T>', `number of steps, ${PARAM_RULES.steps.text}`, ruleParser('steps'))
    .requiredOption('--delta <delta>', `target δ, ${PARAM_RULES.delta.text}`, ruleParser('delta'))
    .addOption(accountantOption())
    .addOption(intervalOption())
    .option('--json', 'print {"epsilon", "delta", "accountant"} as JSON')
    .action((options: CommonOptions & { noiseMultiplier: number }) => {
      const result = epsilon(
        {
          samplingRate: options.samplingRate,
          noiseMultiplier: options.noiseMultiplier,
          steps: options.steps,
          delta: options.delta,
          valueDiscretizationInterval: options.pldInterval,
        },
        accountantName(options.accountant),
      );
      if (options.json) console.log(JSON.stringify(result));
      else console.log(`epsilon ${result.epsilon} at delta ${result.delta} (${result.accountant} accountant)`);
    });

  privacy
    .command('noise')
    .description('the smallest noise multiplier (to 1e-4 relative) whose ε at δ after T steps is at most the target')
    .requiredOption(
      '--sampling-rate <q>',
      `Poisson sampling probability per record per step, ${PARAM_RULES.samplingRate.text}`,
      ruleParser('samplingRate'),
    )
    .requiredOption('--steps <T>', `number of steps, ${PARAM_RULES.steps.text}`, ruleParser('steps'))
    .requiredOption('--delta <delta>', `target δ, ${PARAM_RULES.delta.text}`, ruleParser('delta'))
    .requiredOption('--target-epsilon <epsilon>', `target ε, ${PARAM_RULES.targetEpsilon.text}`, ruleParser('targetEpsilon'))
    .addOption(accountantOption())
    .addOption(intervalOption())
    .option('--json', 'print {"noise_multiplier", "epsilon", "delta", "accountant"} as JSON')
    .action((options: CommonOptions & { targetEpsilon: number }) => {
      const accountant = accountantName(options.accountant);
      const result = noiseMultiplierFor({
        samplingRate: options.samplingRate,
        steps: options.steps,
        delta: options.delta,
        targetEpsilon: options.targetEpsilon,
        accountant,
        valueDiscretizationInterval: options.pldInterval,
      });
      const out = { noise_multiplier: result.noiseMultiplier, epsilon: result.epsilon, delta: options.delta, accountant };
      if (options.json) console.log(JSON.stringify(out));
      else
        console.log(
          `noise multiplier ${out.noise_multiplier} gives epsilon ${out.epsilon} at delta ${out.delta} (${accountant} accountant)`,
        );
    });
}
