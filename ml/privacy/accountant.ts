// One entry point over both accountants.

import type { MechanismParams } from './params';
import { pldEpsilon } from './pld';
import { rdpEpsilon } from './rdp';

export const ACCOUNTANTS = ['rdp', 'pld'] as const;
export type Accountant = (typeof ACCOUNTANTS)[number];

export interface EpsilonOptions {
  /** RDP orders (rdp only). */
  orders?: readonly number[];
  /** Privacy-loss grid step (pld only). */
  valueDiscretizationInterval?: number;
}

export interface EpsilonResult {
  epsilon: number;
  delta: number;
  accountant: Accountant;
}

/** ε at δ of `steps` compositions of the Poisson-subsampled Gaussian mechanism, by the chosen accountant. */
export function epsilon(params: MechanismParams & EpsilonOptions, accountant: Accountant = 'rdp'): EpsilonResult {
  const value = accountant === 'rdp' ? rdpEpsilon(params).epsilon : pldEpsilon(params).epsilon;
  return { epsilon: value, delta: params.delta, accountant };
}
