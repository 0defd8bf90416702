// The daily retraining schedule (pipeline.schedule in config.yaml): a Temporal Schedule that starts
// trainingPipeline at the cron time (UTC), skips a start while the previous run is still going, and catches up on
// starts missed within the catch-up window. Temporal suffixes each run's id with its scheduled time.
import { type Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from '../config';
import type { PipelineInput } from '../workflows/settings';
import { PIPELINE_WORKFLOW, pipelineSettings, type SettingsOverrides } from './pipeline';

export interface ScheduleState {
  id: string;
  cron: string;
  paused: boolean;
  note: string | null;
  nextRuns: string[];
  recentRuns: Array<{ workflowId: string; scheduledAt: string }>;
}

export async function createSchedule(client: Client, config: Config, overrides: SettingsOverrides = {}): Promise<{ created: boolean }> {
  const { schedule } = config.pipeline;
  const input: PipelineInput = { settings: pipelineSettings(config, overrides), trigger: 'schedule' };
  try {
    await client.schedule.create({
      scheduleId: schedule.id,
      spec: { cronExpressions: [schedule.cron] },
      action: {
        type: 'startWorkflow',
        workflowType: PIPELINE_WORKFLOW,
        workflowId: schedule.id,
        taskQueue: config.pipeline.taskQueues.workflow,
        args: [input],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: schedule.catchupWindow },
    });
    return { created: true };
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return { created: false };
    throw err;
  }
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
/** Starts a run now, whatever the cron says (still subject to the overlap policy). */
export const triggerSchedule = (client: Client, config: Config) => handle(client, config).trigger(ScheduleOverlapPolicy.SKIP);
export const deleteSchedule = (client: Client, config: Config) => handle(client, config).delete();
