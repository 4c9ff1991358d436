import type { Logger } from "@annex/host";

export interface InstallLogLine {
  at: string;
  level: "debug" | "info" | "warn" | "error";
  /** "extension": a line the extension wrote; "runner": a failed execution reported by the host. */
  source: string;
  message: string;
  handler?: string | undefined;
  requestId?: string | undefined;
  code?: string | undefined;
}

/**
 * A logger in front of the app's own: every line still goes to `inner`, and
 * the lines about one install (the extension's own, and failed executions)
 * are also kept in a ring buffer of that install, for the console's "recent
 * log lines". Bounded twice: `perInstall` lines each, `maxInstalls` installs
 * (the least recently written install is forgotten first), and each message
 * cut at `maxMessageChars`, so a log flood costs a fixed amount of memory.
 */
export class InstallLogBuffer {
  private readonly lines = new Map<string, InstallLogLine[]>();
  readonly logger: Logger;

  constructor(
    inner: Logger,
    private readonly options: { perInstall?: number; maxInstalls?: number; maxMessageChars?: number } = {},
  ) {
    const wrap =
      (level: InstallLogLine["level"]) =>
      (fields: Record<string, unknown>, message: string): void => {
        inner[level](fields, message);
        this.record(level, fields, message);
      };
    this.logger = { debug: wrap("debug"), info: wrap("info"), warn: wrap("warn"), error: wrap("error") };
  }

  private record(level: InstallLogLine["level"], fields: Record<string, unknown>, message: string): void {
    const installId = fields["installId"];
    const source = fields["source"];
    if (typeof installId !== "string" || (source !== "extension" && source !== "runner")) return;
    const max = this.options.maxMessageChars ?? 2000;
    const line: InstallLogLine = {
      at: typeof fields["at"] === "string" ? fields["at"] : new Date().toISOString(),
      level,
      source,
      message: message.length > max ? `${message.slice(0, max)}…` : message,
      handler: typeof fields["handler"] === "string" ? fields["handler"] : undefined,
      requestId: typeof fields["requestId"] === "string" ? fields["requestId"] : undefined,
      code: typeof fields["code"] === "string" ? fields["code"] : undefined,
    };
    let ring = this.lines.get(installId);
    if (ring === undefined) {
      ring = [];
      if (this.lines.size >= (this.options.maxInstalls ?? 1000)) this.lines.delete(this.lines.keys().next().value as string);
    } else {
      this.lines.delete(installId);
    }
    this.lines.set(installId, ring);
    ring.push(line);
    const perInstall = this.options.perInstall ?? 200;
    if (ring.length > perInstall) ring.splice(0, ring.length - perInstall);
  }

  /** The install's recent lines, newest last. */
  recent(installId: string, limit = 200): InstallLogLine[] {
    return (this.lines.get(installId) ?? []).slice(-limit);
  }
}
