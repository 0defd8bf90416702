// Workflows used only by the smoke tests: one that calls an activity, one that sleeps a simulated day.
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { SmokeActivities } from './smoke-activities';

const { greet } = proxyActivities<SmokeActivities>({ startToCloseTimeout: '10 seconds' });

export async function greetingWorkflow(name: string): Promise<string> {
  return greet(name);
}

export async function dayLongWorkflow(): Promise<string> {
  await sleep('1 day');
  return 'woke up';
}
