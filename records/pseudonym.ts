// Pseudonymization of identifiers (card numbers): HMAC-SHA256 under a secret key, the first 16 bytes as 32 hex
// characters. The same card always gets the same pseudonym under one key, so features and privacy units still group
// by card, while the number itself never leaves the boundary.
import { createHmac, randomBytes } from 'node:crypto';

export const PSEUDONYM_KEY_VARIABLE = 'RECORDS_PSEUDONYM_KEY';

export type Pseudonymizer = (value: string) => string;

export function pseudonymizer(key: string): Pseudonymizer {
  if (key.length < 32) throw new Error(`${PSEUDONYM_KEY_VARIABLE} must have at least 32 characters`);
  const cache = new Map<string, string>();
  return (value) => {
    let pseudonym = cache.get(value);
    if (pseudonym === undefined) {
      pseudonym = createHmac('sha256', key).update(value).digest().subarray(0, 16).toString('hex');
      if (cache.size >= 100_000) cache.clear();
      cache.set(value, pseudonym);
    }
    return pseudonym;
  };
}

/** A new random key (256 bits, hex): what `.env` gets on first run. */
export function newPseudonymKey(): string {
  return randomBytes(32).toString('hex');
}
