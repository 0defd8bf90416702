// What is wrong with a record, a row or a declaration: every problem names its field (or config key) and the rule.
import { InvalidInputError } from '../ml/errors';

export interface FieldProblem {
  /** The field as the user names it: the declared column, or a path such as `transactions[3].amt`. */
  field: string;
  rule: string;
}

/** One problem list as a sentence: `amt must be a number in [0, 5000]; cc_num is required`. */
export function describeProblems(problems: readonly FieldProblem[]): string {
  return problems.map((p) => `${p.field} ${p.rule}`).join('; ');
}

/** A record (a CSV row, a message, a request item) that breaks the declared contract. */
export class RecordError extends InvalidInputError {
  override name = 'RecordError';

  constructor(
    readonly problems: FieldProblem[],
    where?: string,
  ) {
    super(`${where ? `${where}: ` : ''}${describeProblems(problems)}`);
  }
}
