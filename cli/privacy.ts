// `fraudops privacy ...`: ε of DP-SGD's Poisson-subsampled Gaussian mechanism, the noise multiplier for a target ε,
// and the lifetime ledger of every training attempt of the running stack.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ledgerPrefix, readLedger } from '../clients/privacy-ledger-store';
import { createS3 } from '../clients/s3';
import { lifetimePeriodDays, loadConfig } from '../config';
import {
  type Accountant,
  DEFAULT_VALUE_DISCRETIZATION_INTERVAL,
  epsilon,
  noiseMultiplierFor,
  PARAM_RULES,
  type ParamName,
} from '../ml/privacy';
import { type LedgerMechanism, type LedgerReport, ledgerReport } from '../ml/privacy/ledger';

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

const shownEpsilon = (epsilon: number | null) => (epsilon === null ? '∞' : epsilon.toFixed(3));

function describeMechanism(m: LedgerMechanism): string {
  switch (m.kind) {
    case 'poisson-gaussian':
      return `DP-SGD q ${m.samplingRate} σ ${m.noiseMultiplier.toFixed(4)} × ${m.steps} steps`;
    case 'gaussian':
      return `Gaussian σ ${m.sigma} / sensitivity ${m.sensitivity}`;
    case 'composition':
      return m.parts.map(describeMechanism).join(' + ');
    case 'non-private':
      return 'non-private (ε unbounded)';
    case 'approximate-dp':
      return `(ε ${m.epsilon.toFixed(4)}, δ ${m.delta})-DP release (a tuning search on private data)`;
  }
}

/** The ledger as a table: the budget, the composed ε per event day, the worst, then the entries. */
export function renderLedger(report: LedgerReport): string {
  const { budget } = report;
  const scope = report.unit === 'card' ? `per card over ${budget.period}` : 'per event day';
  const lines = [`privacy ledger: unit ${report.unit}; budget ε ${budget.epsilon} ${scope} at δ ${budget.delta}`];
  if (!report.entries.length) return [...lines, 'no training attempt recorded yet'].join('\n');
  const over = (epsilon: number | null) => (epsilon === null || epsilon > budget.epsilon ? '  OVER BUDGET' : '');
  lines.push('', 'event day    ε        runs');
  for (const day of report.days) lines.push(`${day.day}   ${shownEpsilon(day.epsilon).padEnd(8)} ${day.runs.length}${over(day.epsilon)}`);
  const worst = report.worst;
  if (worst) {
    const where = 'day' in worst ? worst.day : `every card, ${worst.period.from.slice(0, 10)} to ${worst.period.to.slice(0, 10)}`;
    lines.push(
      '',
      `worst: ${where}: ε ${shownEpsilon(worst.epsilon)} at δ ${worst.delta} over ${worst.runs.length} runs${over(worst.epsilon)}`,
    );
  }
  lines.push('', 'recorded at               outcome     event days                 workflow / run, mechanism');
  for (const e of report.entries) {
    lines.push(
      `${e.recordedAt.padEnd(25)} ${e.outcome.padEnd(11)} ${e.days.first} to ${e.days.last}   ${e.workflowId ?? ''} / ${e.runId}${e.modelVersion ? ` (version ${e.modelVersion})` : ''}`,
      `${' '.repeat(64)}${describeMechanism(e.mechanism)}`,
    );
  }
  return lines.join('\n');
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

  privacy
    .command('ledger')
    .description(
      'the lifetime privacy ledger of the running stack (S3): every training attempt (promoted, rejected, expired, ' +
        'superseded or failed: all count), and per event day the (ε, δ) of all the attempts whose training window ' +
        'covered it, composed by PLD; for the card unit also per card over privacy.lifetimePeriod. A pipeline run that ' +
        'would take a day (or a card) past privacy.lifetimeEpsilon is refused before training.',
    )
    .option(
      '--json',
      'print {"unit", "budget": {"epsilon", "delta", "period"}, "days": [{"day", "epsilon", "delta", "runs"}], "worst", "entries"} ' +
        '(epsilon null: unbounded); tools/reference/privacy_ledger.py recomposes it with dp-accounting',
    )
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig();
      const entries = (await readLedger(createS3(config), config.stack.s3.bucket, ledgerPrefix(config))).map((item) => item.entry);
      const budget = {
        unit: config.privacy.unit,
        epsilon: config.privacy.lifetimeEpsilon,
        delta: config.privacy.delta,
        periodDays: lifetimePeriodDays(config.privacy),
      };
      const report = ledgerReport(entries, budget, new Date());
      console.log(options.json ? JSON.stringify(report, null, 2) : renderLedger(report));
    });
}
