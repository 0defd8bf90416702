// The record contract: one home for a transaction's fields, their rules, time formats and pseudonymization.
import { RecordContract } from './contract';
import { type RecordsSettings, resolveDeclaration } from './declaration';
import { PSEUDONYM_KEY_VARIABLE, pseudonymizer } from './pseudonym';

export * from './contract';
export * from './csv';
export * from './datetime';
export * from './declaration';
export * from './errors';
export * from './ids';
export * from './pseudonym';

/** The contract of a loaded config: its `records:` declaration and, when it pseudonymizes, the key from `.env`. */
export function recordContract(config: { records: RecordsSettings; secrets: { [PSEUDONYM_KEY_VARIABLE]?: string } }): RecordContract {
  const declaration = resolveDeclaration(config.records);
  const key = config.secrets[PSEUDONYM_KEY_VARIABLE];
  if (declaration.pseudonymize.length && !key)
    throw new Error(`records.pseudonymize is set but ${PSEUDONYM_KEY_VARIABLE} is missing from .env and the environment`);
  return new RecordContract(declaration, key ? pseudonymizer(key) : undefined);
}
