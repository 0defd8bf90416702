// What a client is told when a request fails: a status, a one-line error and, for bad input, every failing field
// with its rule (records/errors' FieldProblem). Never a stack trace: anything that is not a RequestError becomes a 500
// naming the request id.
import { describeProblems, type FieldProblem } from '../records/errors';
import type { ErrorKind } from './metrics';

export class RequestError extends Error {
  override name = 'RequestError';

  constructor(
    readonly status: number,
    readonly kind: ErrorKind,
    message: string,
    /** Each field's path in the request, e.g. `transactions[3].features.TX_AMOUNT`, or `(body)` for the whole body. */
    readonly problems: FieldProblem[] = [],
    /** What went wrong underneath, for the server log only. */
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** 400 listing every problem. */
export function invalidRequest(problems: FieldProblem[]): RequestError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new RequestError(400, 'validation', `invalid request (${count}): ${describeProblems(problems)}`, problems);
}
