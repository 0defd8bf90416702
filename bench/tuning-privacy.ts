// What a tuning search on private data costs: its (ε, δ) (Papernot & Steinke over the trials' RDP curve, as
// reserveTuningPrivacy charges it) for each law of the number of trials, mean number of trials, per-trial ε and noise
// multiplier of the score, on data of the handbook protocol's size. Pure accounting, no training; prints one JSON object.
//   node --import tsx bench/tuning-privacy.ts [--rows 67679] [--positives 528] [--cards 4900] [--unit transaction]
//     [--trial-epsilons 0.5,1] [--means 4,12] [--score-noise 2,5,10,20]
// The space is config.yaml's tuning.space restricted to the DP-SGD families (a private search refuses the EBM), at
// config.yaml's privacy.delta for the trials and tuning.private.delta for the search.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { DP_SGD_FAMILIES } from '../ml/experiment';
import { TRIAL_COUNT_KINDS, trialCountDistribution } from '../ml/tuning/accounting';
import { hitsNoiseSigma, hitsSensitivity } from '../ml/tuning/private-score';
import { searchPrivacy, trialMechanisms } from '../ml/tuning/private-search';
import { pipelineSettings } from '../temporal/pipeline';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '67679' },
    positives: { type: 'string', default: '528' },
    cards: { type: 'string', default: '4900' },
    unit: { type: 'string', default: 'transaction' },
    'trial-epsilons': { type: 'string', default: '0.5,1' },
    means: { type: 'string', default: '4,12' },
    'score-noise': { type: 'string', default: '2,5,10,20' },
  },
});
const numbers = (text: string) => text.split(',').map(Number);
const unit = values.unit === 'card' ? 'card' : 'transaction';
const config = loadConfig();
const training = pipelineSettings(config).training;
const base = { ...training.options, privacyUnit: unit } as const;
const space = { ...config.tuning.space, family: DP_SGD_FAMILIES.filter((f) => config.tuning.space.family?.includes(f) ?? true) };
const counts = { rows: Number(values.rows), positives: Number(values.positives), cards: Number(values.cards) };
const validationDays = training.protocol.validationDays;
const delta = config.tuning.private.delta;

const rows = [];
for (const trialEpsilon of numbers(values['trial-epsilons'])) {
  const mechanisms = trialMechanisms(space, { ...base, targetEpsilon: trialEpsilon }, counts);
  for (const z of numbers(values['score-noise'])) {
    const sensitivity = hitsSensitivity(unit, validationDays);
    const score = { sensitivity, sigma: hitsNoiseSigma(z, sensitivity) };
    for (const mean of numbers(values.means)) {
      const epsilon = Object.fromEntries(
        TRIAL_COUNT_KINDS.map((kind) => [
          kind,
          Number(searchPrivacy(mechanisms, score, trialCountDistribution(kind, mean), delta).epsilon.toFixed(3)),
        ]),
      );
      rows.push({ trialEpsilon, scoreNoiseMultiplier: z, scoreSigma: score.sigma, meanTrials: mean, epsilon });
    }
  }
}
console.log(
  JSON.stringify(
    {
      unit,
      counts,
      validationDays,
      trialDelta: base.delta,
      searchDelta: delta,
      accountant: base.accountant,
      mechanismsPerTrialEpsilon: 'every samplingRate × epochs × balance choice of tuning.space',
      rows,
    },
    null,
    2,
  ),
);
