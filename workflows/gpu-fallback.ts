// Work that prefers the GPU pool: it goes to the GPU task queue with a schedule-to-start timeout, and to the CPU
// pool when no GPU worker took it in time (training in trainingPipeline, trials in tuningSearch).
import { ActivityFailure, TimeoutFailure } from '@temporalio/workflow';

/** True when an activity failed because no worker started it within its schedule-to-start timeout. */
export function isScheduleToStartTimeout(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}
