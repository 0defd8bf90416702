// How workflows retry activities and which activity failures end a run as themselves (not wrapped in an
// ActivityFailure), shared by the training pipeline and the tuning search.
import { ActivityFailure, ApplicationFailure, type RetryPolicy } from '@temporalio/workflow';

/** Exponential backoff from 2 s to 1 min; `nonRetryable`: the error types a retry cannot fix. */
export const retryPolicy = (maximumAttempts: number, nonRetryable: string[] = []): RetryPolicy => ({
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts,
  nonRetryableErrorTypes: nonRetryable,
});

/** The activity's own failure when it is one of `types` (the run then fails with it, not a wrapper), else `err`. */
export function permanentCause(err: unknown, types: readonly string[]): unknown {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure && types.includes(cause.type ?? '') ? cause : err;
}

/** For promise.catch: rethrows permanentCause(err, types). */
export const unwrapPermanent =
  (types: readonly string[]) =>
  (err: unknown): never => {
    throw permanentCause(err, types);
  };
