// The inputs of the accountants and the rule each must satisfy; the CLI parses its flags with the same rules.
import { InvalidInputError } from '../errors';

export interface MechanismParams {
  /** Poisson sampling probability q of each record per step, in (0, 1]. */
  samplingRate: number;
  /** Noise standard deviation divided by the clipping norm, > 0. */
  noiseMultiplier: number;
  /** Number of steps (self-compositions), a whole number >= 1. */
  steps: number;
  /** Target δ, in (0, 1). */
  delta: number;
}

interface Rule {
  text: string;
  holds: (value: number) => boolean;
}

export const PARAM_RULES = {
  samplingRate: { text: 'a number in (0, 1]', holds: (v) => v > 0 && v <= 1 },
  noiseMultiplier: { text: 'a finite number > 0', holds: (v) => v > 0 && Number.isFinite(v) },
  steps: { text: 'a whole number >= 1', holds: (v) => Number.isSafeInteger(v) && v >= 1 },
  delta: { text: 'a number in (0, 1)', holds: (v) => v > 0 && v < 1 },
  targetEpsilon: { text: 'a finite number > 0', holds: (v) => v > 0 && Number.isFinite(v) },
  valueDiscretizationInterval: { text: 'a number in [1e-7, 0.1]', holds: (v) => v >= 1e-7 && v <= 0.1 },
} satisfies Record<string, Rule>;

export type ParamName = keyof typeof PARAM_RULES;

/** Throws InvalidInputError naming the field and its rule unless `value` satisfies it. */
export function checkParam(name: ParamName, value: unknown): void {
  if (typeof value !== 'number' || !PARAM_RULES[name].holds(value)) {
    throw new InvalidInputError(`${name} must be ${PARAM_RULES[name].text}; got ${String(value)}`);
  }
}

export function checkMechanismParams(params: MechanismParams): void {
  checkParam('samplingRate', params.samplingRate);
  checkParam('noiseMultiplier', params.noiseMultiplier);
  checkParam('steps', params.steps);
  checkParam('delta', params.delta);
}
