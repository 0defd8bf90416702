/** Bad input from a user or a caller: the message names the field and the rule it broke. */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}
