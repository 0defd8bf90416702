// Identifiers (transaction, card, terminal): a JSON/CSV string or a whole number, kept as its decimal string.
// A JSON number beyond 2^53 has already lost digits when it was parsed, so it is refused, never rounded.

export const MAX_ID_LENGTH = 128;

export const ID_RULE = `must be a non-empty string (at most ${MAX_ID_LENGTH} characters, no control characters) or a whole number >= 0 below 2^53 (send longer numbers, e.g. card numbers, as strings)`;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the rule refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The id as its string, or undefined when `value` cannot be an identifier. */
export function idOf(value: unknown): string | undefined {
  if (typeof value === 'string') {
    if (value.length === 0 || value.length > MAX_ID_LENGTH || CONTROL.test(value)) return undefined;
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'bigint' && value >= 0n) return value.toString();
  return undefined;
}

/** A canonical whole-number id (the handbook's) as its value; NaN for any other string. */
export const numericId = (id: string): number => (/^(0|[1-9]\d{0,14})$/.test(id) ? Number(id) : Number.NaN);

/** How a published message writes a whole-number id: as a JSON string (as a CSV gives it) or a JSON number. */
export type IdEncoding = 'string' | 'integer';

/**
 * An id as a message field: with 'integer', a canonical whole number as a JSON number (the handbook's integer ids, so
 * its messages keep their form, and a reader parses a number instead of allocating a string); otherwise the string.
 */
export function encodeId(id: string, encoding: IdEncoding): string | number {
  if (encoding === 'string') return id;
  const value = numericId(id);
  return Number.isNaN(value) ? id : value;
}

/**
 * A total order of ids: whole-number ids by value (as the handbook's integer ids sorted), before any other string,
 * which sort by code unit. Ties of time or score are broken with it wherever rows are ordered.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const x = numericId(a);
  const y = numericId(b);
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  if (!Number.isNaN(x) || !Number.isNaN(y)) return Number.isNaN(x) ? 1 : -1;
  return a < b ? -1 : 1;
}
