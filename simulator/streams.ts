// The simulator's random stream kinds: the second word of each stream key (after the seed).
/** Stream kinds: the first word of a stream key. */
export const STREAM = {
  customerProfile: 1,
  customerTransactions: 2,
  terminalProfile: 3,
  scenario2: 4,
  scenario3: 5,
} as const;
