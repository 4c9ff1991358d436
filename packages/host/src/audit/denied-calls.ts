import type { Kysely } from "kysely";
import type { Logger } from "../observability/logger.js";
import type { AnnexTables } from "../database/tables.js";
import type { ExecuteEvent } from "../execution/executor.js";
import { writeAudit } from "./audit-log.js";

/** The action of the line: an install's host calls refused for want of a grant. */
export const DENIED_CALLS_ACTION = "install.host-call.deny";

/**
 * Audits the host calls an execution made without the grant they need: one
 * line per execution that had any (actor the install, decision deny, the
 * refusals counted by capability), whatever the guest did with the errors.
 * A refusal is a decision of the host's like the gateway's, and an extension
 * probing for what it was not granted (secrets, the cloud's metadata address,
 * another install's tables) did so unseen when it caught them. One line per
 * execution, not per call: an execution makes at most `hostCalls` calls, and
 * its request already costs a line of its own.
 */
export function auditDeniedCalls(db: Kysely<AnnexTables>, logger: Logger): (event: ExecuteEvent) => void {
  return (event) => {
    if (event.denied === undefined) return;
    writeAudit(db, {
      actor: `install:${event.installId}`,
      tenant: event.tenant,
      action: DENIED_CALLS_ACTION,
      target: event.extensionId,
      decision: "deny",
      details: { requestId: event.requestId, version: event.version, handler: event.handler, trigger: event.trigger, denied: event.denied },
    }).catch((error: unknown) => {
      logger.warn({ requestId: event.requestId, installId: event.installId, err: error }, "the audit line of refused host calls could not be written");
    });
  };
}
