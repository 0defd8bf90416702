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
