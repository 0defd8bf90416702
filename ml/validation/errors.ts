// The error a pipeline stops on when its data fails validation. It is not worth retrying (the data will not
// change), so callers mark the type 'DataValidationError' non-retryable; the report travels with it.
import type { ValidationReport } from './report';

/** Failures named in the message before "and N more". */
const MAX_LISTED = 5;

export class DataValidationError extends Error {
  override name = 'DataValidationError';

  constructor(
    message: string,
    readonly report: ValidationReport,
  ) {
    super(message);
  }
}

/** Throws DataValidationError naming the worst failures when the report failed; `location` says where the full report is. */
export function throwIfFailed(report: ValidationReport, location?: string): void {
  if (report.status === 'pass') return;
  const listed = report.failures.slice(0, MAX_LISTED).join('; ');
  const more = report.failures.length > MAX_LISTED ? `; and ${report.failures.length - MAX_LISTED} more` : '';
  const where = location ? ` (full report: ${location})` : '';
  throw new DataValidationError(`data validation failed: ${listed}${more}${where}`, report);
}
