// POST /approvals/:workflowId/approve|reject {version, approver, reason}: an operator's decision on a candidate model,
// sent to the pipeline workflow as the validated decidePromotion update. Bearer token: API_TOKEN from .env.
// The workflow is the authority on who may decide what: its validator's refusal comes back as 409 with its reason.
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Client, ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { type RequestHandler, Router } from 'express';
import { connectTemporal } from '../clients/temporal';
import type { Config } from '../config';
import type { FieldProblem } from '../records/errors';
import { decidePromotion, type PromotionDecisionInput, type PromotionOutcome } from '../workflows/messages';
import { invalidRequest, RequestError } from './errors';
import { jsonBody } from './json-body';

const APPROVAL_BODY_KB = 16;

export interface ApprovalDecider {
  /** Runs the update; rejects with WorkflowNotFoundError or WorkflowUpdateFailedError as the Temporal client does. */
  decide(workflowId: string, input: PromotionDecisionInput & { approve: boolean }): Promise<PromotionOutcome>;
  close(): Promise<void>;
}

/** Connects to Temporal on first use (the API serves predictions while Temporal is down); retries after a failure. */
export function temporalApprovals(config: Config): ApprovalDecider {
  let client: Promise<Client> | undefined;
  const connect = () => {
    client ??= connectTemporal(config).catch((err) => {
      client = undefined;
      throw new RequestError(503, 'workflow-unavailable', `the workflow service is unavailable: ${(err as Error).message}`);
    });
    return client;
  };
  return {
    async decide(workflowId, input) {
      const handle = (await connect()).workflow.getHandle(workflowId);
      return handle.executeUpdate(decidePromotion, { args: [input] });
    },
    async close() {
      const connected = await client?.catch(() => undefined);
      await connected?.connection.close();
    },
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

function requireToken(token: string): RequestHandler {
  const expected = sha256(token);
  return (req, _res, next) => {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    // Comparing digests keeps the comparison constant-time whatever the length of the guess.
    if (!match || !timingSafeEqual(sha256(match[1]), expected)) {
      throw new RequestError(401, 'unauthorized', 'a valid bearer token is required (Authorization: Bearer <API_TOKEN>)');
    }
    next();
  };
}

const DECISION_FIELDS = ['version', 'approver', 'reason'] as const;

function parseDecision(body: unknown): PromotionDecisionInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidRequest([{ field: '(body)', rule: 'must be a JSON object {version, approver, reason}' }]);
  }
  const record = body as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const field of DECISION_FIELDS) {
    const value = record[field];
    if (value === undefined || value === null) problems.push({ field, rule: 'is required' });
    else if (typeof value !== 'string' || value.trim() === '') problems.push({ field, rule: 'must be a non-empty string' });
  }
  for (const key in record) {
    if (!(DECISION_FIELDS as readonly string[]).includes(key))
      problems.push({ field: key, rule: `is not allowed (a decision has: ${DECISION_FIELDS.join(', ')})` });
  }
  if (problems.length) throw invalidRequest(problems);
  return { version: record.version as string, approver: record.approver as string, reason: record.reason as string };
}

export function approvalsRouter(config: Config, decider: ApprovalDecider | undefined): Router {
  const router = Router();
  router.use(requireToken(config.secrets.API_TOKEN), ...jsonBody(APPROVAL_BODY_KB));
  for (const [action, approve] of [
    ['approve', true],
    ['reject', false],
  ] as const) {
    router.post(`/:workflowId/${action}`, async (req, res) => {
      const input = parseDecision(req.body);
      if (!decider) throw new RequestError(503, 'workflow-unavailable', 'this server does not send approvals (no workflow client)');
      const workflowId = String(req.params.workflowId);
      try {
        const outcome = await decider.decide(workflowId, { ...input, approve });
        res.json({ workflow_id: workflowId, ...outcome });
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          throw new RequestError(404, 'workflow-not-found', `no running workflow ${workflowId}: ${err.message}`);
        }
        if (err instanceof WorkflowUpdateFailedError) {
          throw new RequestError(409, 'approval-refused', `the workflow refused the decision: ${err.cause?.message ?? err.message}`);
        }
        if (err instanceof ServiceError) {
          throw new RequestError(503, 'workflow-unavailable', 'the workflow service did not answer; retry', [], err);
        }
        throw err;
      }
    });
  }
  return router;
}
