import type { ExecuteEvent } from "../execution/executor.js";
import type { Logger } from "./logger.js";

/**
 * Reports each execution to the host's logger: every log line the extension
 * wrote (at its own level, with the execution's identity), and a warning
 * for an execution that failed. The extension's text goes in as the
 * message, which pino escapes; it never becomes a field name.
 */
export function logExecutions(logger: Logger): (event: ExecuteEvent) => void {
  return (event) => {
    const fields = {
      requestId: event.requestId,
      tenant: event.tenant,
      installId: event.installId,
      extensionId: event.extensionId,
      version: event.version,
      handler: event.handler,
      trigger: event.trigger,
    };
    for (const line of event.result.logs) {
      logger[line.level]({ ...fields, source: "extension", at: line.at }, line.message);
    }
    const { error } = event.result;
    if (!event.result.ok && error !== undefined) {
      logger.warn({ ...fields, source: "runner", code: error.code, cpuMs: event.result.usage.cpuMs, wallMs: event.result.usage.wallMs }, `execution failed: ${error.message}`);
    }
  };
}
