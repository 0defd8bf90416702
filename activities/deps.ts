// What every pipeline activity needs: the config and one client per service, built once per worker process.
// Each workflow run keeps its intermediate files under pipelines/<workflowId>/ in the project bucket; only those
// keys and content hashes travel through workflow history.
import { Context } from '@temporalio/activity';
import { createKafka, type Kafka } from '../clients/kafka';
import { MlflowClient } from '../clients/mlflow';
import { createS3, getObjectBuffer, putObjectBuffer, type S3 } from '../clients/s3';
import type { Config } from '../config';
import { createLogger, type Logger } from '../observability/log';

export interface ActivityDeps {
  config: Config;
  kafka: Kafka;
  s3: S3;
  mlflow: MlflowClient;
  log: Logger;
}

export function createActivityDeps(config: Config, component = 'activities'): ActivityDeps {
  return {
    config,
    kafka: createKafka(config, `fraudops-${component}`),
    s3: createS3(config),
    mlflow: MlflowClient.fromConfig(config),
    log: createLogger(component),
  };
}

/** The S3 key of a file of the current workflow run. */
export function runKey(name: string): string {
  const workflowId = Context.current().info.workflowExecution?.workflowId;
  if (!workflowId) throw new Error('runKey: this activity does not belong to a workflow run');
  return `pipelines/${workflowId}/${name}`;
}

export const putRunObject = (deps: ActivityDeps, key: string, content: Uint8Array | string, contentType?: string) =>
  putObjectBuffer(deps.s3, deps.config.stack.s3.bucket, key, content, contentType);

export const getRunObject = (deps: ActivityDeps, key: string) => getObjectBuffer(deps.s3, deps.config.stack.s3.bucket, key);

/** Heartbeats at most every `ms` (activities report progress through heartbeats; the server needs no more). */
export function throttledHeartbeat(ms = 2000): (details: unknown) => void {
  let last = 0;
  return (details) => {
    const now = Date.now();
    if (now - last < ms) return;
    last = now;
    Context.current().heartbeat(details);
  };
}
