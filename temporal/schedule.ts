// The daily retraining schedule (pipeline.schedule in config.yaml): a Temporal Schedule that starts
// trainingPipeline at the cron time (UTC) and catches up on starts missed within the catch-up window. Temporal
// suffixes each run's id with its scheduled time. Overlap ALLOW_ALL: a start is never skipped because an earlier run
// still waits for approval (up to pipeline.approval.timeout); the newer candidate supersedes the waiting one instead
// (workflows/training-pipeline.ts). `make up`, compose and k8s create it or bring it up to date (ensureSchedule).
import { type Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from '../config';
import type { PipelineInput } from '../workflows/settings';
import { PIPELINE_WORKFLOW, pipelineSettings, type SettingsOverrides, withTuning } from './pipeline';

export interface ScheduleState {
  id: string;
  cron: string;
  paused: boolean;
  note: string | null;
  nextRuns: string[];
  recentRuns: Array<{ workflowId: string; scheduledAt: string }>;
}

async function scheduleOptions(config: Config, overrides: SettingsOverrides) {
  const { schedule } = config.pipeline;
  const input: PipelineInput = { settings: pipelineSettings(config, await withTuning(config, overrides)), trigger: 'schedule' };
  return {
    spec: { cronExpressions: [schedule.cron] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: PIPELINE_WORKFLOW,
      workflowId: schedule.id,
      taskQueue: config.pipeline.taskQueues.workflow,
      args: [input],
    },
    policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL, catchupWindow: schedule.catchupWindow },
  };
}

/**
 * Creates the schedule, or brings an existing one up to the config (cron, catch-up window, the runs' settings),
 * keeping whether an operator paused it and the note. Idempotent: `make up`, compose and k8s run it at every start.
 */
export async function ensureSchedule(client: Client, config: Config, overrides: SettingsOverrides = {}): Promise<'created' | 'updated'> {
  const options = await scheduleOptions(config, overrides);
  try {
    await client.schedule.create({ scheduleId: config.pipeline.schedule.id, ...options });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await handle(client, config).update((previous) => ({
    ...options,
    state: { paused: previous.state.paused, note: previous.state.note },
  }));
  return 'updated';
}

export async function describeSchedule(client: Client, config: Config): Promise<ScheduleState | undefined> {
  const id = config.pipeline.schedule.id;
  try {
    const d = await client.schedule.getHandle(id).describe();
    return {
      id,
      cron: config.pipeline.schedule.cron,
      paused: d.state.paused,
      note: d.state.note ?? null,
      nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
      recentRuns: d.info.recentActions.map((a) => ({
        workflowId: 'workflow' in a.action ? a.action.workflow.workflowId : '',
        scheduledAt: a.scheduledAt.toISOString(),
      })),
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

const handle = (client: Client, config: Config) => client.schedule.getHandle(config.pipeline.schedule.id);

export const pauseSchedule = (client: Client, config: Config, note: string) => handle(client, config).pause(note);
export const unpauseSchedule = (client: Client, config: Config, note: string) => handle(client, config).unpause(note);
/** Starts a run now, whatever the cron says. */
export const triggerSchedule = (client: Client, config: Config) => handle(client, config).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
export const deleteSchedule = (client: Client, config: Config) => handle(client, config).delete();
