// Checks of training data and trainer options; each failure is an InvalidInputError naming the field and its rule.
import { InvalidInputError } from '../errors';
import { ACCOUNTANTS, PARAM_RULES, type ParamName } from '../privacy';
import { AVERAGING_MODES, CLIPPING_MODES, OPTIMIZERS, type TrainerOptions, type TrainingData } from './types';

const quoted = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

function fail(field: string, rule: string, value: unknown): never {
  throw new InvalidInputError(`${field} must be ${rule}; got ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
}

function isWhole(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

function checkWhole(field: string, value: unknown, min: number): void {
  if (!isWhole(value, min)) fail(field, `a whole number >= ${min}`, value);
}

function checkRule(field: string, rule: ParamName, value: unknown): void {
  if (typeof value !== 'number' || !PARAM_RULES[rule].holds(value)) fail(field, PARAM_RULES[rule].text, value);
}

function checkPositive(field: string, value: unknown): void {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) fail(field, 'a finite number > 0', value);
}

/** Checks shapes, finiteness and labels; returns the number of positive rows. */
export function validateData(data: TrainingData): number {
  checkWhole('data.rows', data.rows, 1);
  checkWhole('data.cols', data.cols, 1);
  if (!(data.x instanceof Float32Array)) fail('data.x', 'a Float32Array', Object.prototype.toString.call(data.x));
  if (!(data.y instanceof Uint8Array)) fail('data.y', 'a Uint8Array', Object.prototype.toString.call(data.y));
  if (data.x.length !== data.rows * data.cols) fail('data.x.length', `rows×cols = ${data.rows * data.cols}`, data.x.length);
  if (data.y.length !== data.rows) fail('data.y.length', `rows = ${data.rows}`, data.y.length);
  for (let i = 0; i < data.x.length; i++) {
    if (!Number.isFinite(data.x[i]))
      fail(`data.x[${i}] (row ${Math.floor(i / data.cols)}, column ${i % data.cols})`, 'a finite number', data.x[i]);
  }
  let positives = 0;
  for (let i = 0; i < data.rows; i++) {
    if (data.y[i] > 1) fail(`data.y[${i}]`, '0 or 1', data.y[i]);
    positives += data.y[i];
  }
  if (positives === 0 || positives === data.rows) {
    fail('data.y', 'labels of both classes (every class needs at least one example)', `${positives} positives of ${data.rows}`);
  }
  return positives;
}

/** `cards`: the number of cards, given for the card unit (δ must be below 1/cards there). */
export function validateOptions(options: TrainerOptions, rows: number, cards?: number): void {
  if (!Array.isArray(options.hidden)) fail('hidden', 'an array of layer widths', options.hidden);
  options.hidden.forEach((width, l) => {
    checkWhole(`hidden[${l}]`, width, 1);
  });
  checkWhole('epochs', options.epochs, 1);
  checkPositive('learningRate', options.learningRate);
  if (options.learningRateDecay !== undefined && options.learningRateDecay !== 'none' && options.learningRateDecay !== 'cosine') {
    fail('learningRateDecay', "'none' or 'cosine'", options.learningRateDecay);
  }
  if (!OPTIMIZERS.includes(options.optimizer)) fail('optimizer', `one of ${quoted(OPTIMIZERS)}`, options.optimizer);
  if (options.adamBcFloor !== undefined) {
    if (options.optimizer !== 'adam-bc') fail('adamBcFloor', "unset unless optimizer is 'adam-bc'", options.adamBcFloor);
    checkPositive('adamBcFloor', options.adamBcFloor);
  }
  if (options.averaging !== undefined && !AVERAGING_MODES.includes(options.averaging))
    fail('averaging', `one of ${quoted(AVERAGING_MODES)}`, options.averaging);
  if (options.emaDecay !== undefined) {
    if (options.averaging !== 'ema') fail('emaDecay', "unset unless averaging is 'ema'", options.emaDecay);
    if (typeof options.emaDecay !== 'number' || !(options.emaDecay > 0 && options.emaDecay < 1))
      fail('emaDecay', 'a number in (0, 1)', options.emaDecay);
  }
  if (options.momentum !== undefined) {
    if (options.optimizer !== 'sgd') fail('momentum', "unset unless optimizer is 'sgd'", options.momentum);
    if (typeof options.momentum !== 'number' || !(options.momentum >= 0 && options.momentum < 1))
      fail('momentum', 'a number in [0, 1)', options.momentum);
  }
  if (options.positiveWeight !== undefined) checkPositive('positiveWeight', options.positiveWeight);
  if (options.seed !== undefined) checkWhole('seed', options.seed, 0);
  if (options.insecureNoiseSeed !== undefined) checkWhole('insecureNoiseSeed', options.insecureNoiseSeed, 0);
  const privacy = options.privacy;
  if (typeof privacy !== 'object' || privacy === null) fail('privacy', "an object with mode 'off' or 'dp'", privacy);
  if (privacy.mode === 'off') {
    checkWhole('privacy.batchSize', privacy.batchSize, 1);
    if (privacy.batchSize > rows) fail('privacy.batchSize', `at most the number of rows (${rows})`, privacy.batchSize);
    return;
  }
  if (privacy.mode !== 'dp') fail('privacy.mode', "'off' or 'dp'", (privacy as { mode: unknown }).mode);
  checkPositive('privacy.clipNorm', privacy.clipNorm);
  if (privacy.clipping !== undefined && !CLIPPING_MODES.includes(privacy.clipping))
    fail('privacy.clipping', `one of ${quoted(CLIPPING_MODES)}`, privacy.clipping);
  if (privacy.clippingStability !== undefined) {
    if (privacy.clipping !== 'automatic')
      fail('privacy.clippingStability', "unset unless privacy.clipping is 'automatic'", privacy.clippingStability);
    checkPositive('privacy.clippingStability', privacy.clippingStability);
  }
  checkRule('privacy.delta', 'delta', privacy.delta);
  const unit = privacy.unit ?? 'transaction';
  if (unit !== 'transaction' && unit !== 'card') fail('privacy.unit', "'transaction' or 'card'", unit);
  const [units, unitName] = unit === 'card' ? [cards ?? 0, 'cards'] : [rows, 'rows'];
  if (privacy.delta >= 1 / units) fail('privacy.delta', `below 1/${unitName} = ${1 / units} (privacy.unit ${unit})`, privacy.delta);
  if (privacy.expectedBatchSize !== undefined) checkPositive('privacy.expectedBatchSize', privacy.expectedBatchSize);
  const rate = privacy.samplingRate;
  if (typeof rate === 'object' && rate !== null && unit === 'card') {
    fail('privacy.samplingRate', 'one card rate with privacy.unit card (class-stratified rates would depend on a card’s labels)', rate);
  }
  if (typeof rate === 'object' && rate !== null) {
    checkRule('privacy.samplingRate.positive', 'samplingRate', rate.positive);
    checkRule('privacy.samplingRate.negative', 'samplingRate', rate.negative);
  } else checkRule('privacy.samplingRate', 'samplingRate', rate);
  const given = (privacy.noiseMultiplier !== undefined ? 1 : 0) + (privacy.targetEpsilon !== undefined ? 1 : 0);
  if (given !== 1) {
    fail('privacy.noiseMultiplier / privacy.targetEpsilon', 'given exactly one of the two', {
      noiseMultiplier: privacy.noiseMultiplier,
      targetEpsilon: privacy.targetEpsilon,
    });
  }
  if (privacy.noiseMultiplier !== undefined) checkRule('privacy.noiseMultiplier', 'noiseMultiplier', privacy.noiseMultiplier);
  if (privacy.targetEpsilon !== undefined) checkRule('privacy.targetEpsilon', 'targetEpsilon', privacy.targetEpsilon);
  if (privacy.accountant !== undefined && !ACCOUNTANTS.includes(privacy.accountant))
    fail('privacy.accountant', ACCOUNTANTS.map((a) => `'${a}'`).join(' or '), privacy.accountant);
}
