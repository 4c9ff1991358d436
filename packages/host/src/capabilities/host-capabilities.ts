import { AnnexError, formatIssueLines, keepIssues, KEPT_ISSUE_LIMIT, type CapabilityGrant } from "@annex/manifest";
import type { EnvelopePrincipal } from "@annex/runner";
import type { z } from "zod";

/** What a host capability's implementation learns about its caller. */
export interface HostCapabilityContext<Params = unknown> {
  install: { id: string; tenant: string; extensionId: string; version: string; config: Record<string, unknown> };
  /**
   * Who the request being served is for (absent for jobs and events): tenant
   * and roles, and the user's identity only when the install was granted
   * `user.read` — what the extension itself may know.
   */
  principal: EnvelopePrincipal | undefined;
  /** The parameters the admin granted (validated against `params` when the capability declares them). */
  params: Params | undefined;
}

/**
 * One of the embedding app's own APIs, offered to extensions as
 * `host:<name>` (e.g. `host:crm.contacts.read`). Arguments and results cross
 * the sandbox boundary, so both are validated here, on the host side.
 */
export interface HostCapability<Args = any, Result = any, Params = any> {
  /** Dotted lowercase name without the `host:` prefix, e.g. `crm.contacts.read`. */
  name: string;
  /** Shown to admins next to the extension's reason. */
  description?: string | undefined;
  /** Parameters a manifest may attach to the request (and the admin to the grant), e.g. which pipelines. */
  params?: z.ZodType<Params> | undefined;
  args: z.ZodType<Args>;
  result: z.ZodType<Result>;
  handler(args: Args, context: HostCapabilityContext<Params>): Result | Promise<Result>;
}

/** Identity function that infers the argument and result types of a capability from its schemas. */
export function defineHostCapability<Args, Result, Params = undefined>(
  definition: HostCapability<Args, Result, Params>,
): HostCapability<Args, Result, Params> {
  return definition;
}

export type HostCapabilityErrorCode =
  | "E_HOST_CAPABILITY_DEFINITION"
  | "E_HOST_CAPABILITY_UNKNOWN"
  | "E_CAPABILITY_DENIED"
  | "E_HOST_CAPABILITY_ARGS"
  | "E_HOST_CAPABILITY_RESULT";

export class HostCapabilityError extends AnnexError {
  declare readonly code: HostCapabilityErrorCode;

  constructor(code: HostCapabilityErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

const NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

export interface InvokeHostCapability {
  install: HostCapabilityContext["install"];
  /** The install's grants, from the registry. */
  grants: readonly CapabilityGrant[];
  principal?: EnvelopePrincipal | undefined;
}

/** The host's registered capabilities: what publish checks manifests against, and what the runner bridge calls. */
export class HostCapabilities {
  readonly #definitions = new Map<string, HostCapability>();

  constructor(definitions: readonly HostCapability[] = []) {
    if (!Array.isArray(definitions)) {
      const got = definitions === null ? "null" : typeof definitions === "object" ? "an object" : `a ${typeof definitions}`;
      throw new HostCapabilityError(
        "E_HOST_CAPABILITY_DEFINITION",
        `createHost({ capabilities }): capabilities must be an array of defineHostCapability(…) definitions, got ${got}; pass capabilities: [crmContactsRead, …] (or [] for none)`,
        { field: "capabilities" },
      );
    }
    for (const definition of definitions) {
      const name = definition?.name?.startsWith("host:") ? definition.name.slice(5) : definition?.name;
      if (typeof name !== "string" || !NAME.test(name)) {
        throw new HostCapabilityError(
          "E_HOST_CAPABILITY_DEFINITION",
          `createHost({ capabilities }): capability name ${JSON.stringify(definition?.name)} must be dotted lowercase words such as "crm.contacts.read"`,
        );
      }
      if (this.#definitions.has(name)) {
        throw new HostCapabilityError("E_HOST_CAPABILITY_DEFINITION", `createHost({ capabilities }): "${name}" is registered twice; register each capability once`, {
          capability: name,
        });
      }
      if (typeof definition.handler !== "function" || definition.args === undefined || definition.result === undefined) {
        throw new HostCapabilityError(
          "E_HOST_CAPABILITY_DEFINITION",
          `createHost({ capabilities }): "${name}" needs zod schemas "args" and "result" and a "handler" function`,
          { capability: name },
        );
      }
      this.#definitions.set(name, { ...definition, name });
    }
  }

  /** Registered names, without the `host:` prefix. */
  names(): string[] {
    return [...this.#definitions.keys()].sort();
  }

  has(name: string): boolean {
    return this.#definitions.has(stripPrefix(name));
  }

  get(name: string): HostCapability | undefined {
    return this.#definitions.get(stripPrefix(name));
  }

  /** The registry shape @annex/manifest checks `host:` capabilities against. */
  toManifestRegistry(): Map<string, { name: string; description?: string; params?: z.ZodType }> {
    const registry = new Map<string, { name: string; description?: string; params?: z.ZodType }>();
    for (const definition of this.#definitions.values()) {
      registry.set(definition.name, {
        name: definition.name,
        ...(definition.description === undefined ? {} : { description: definition.description }),
        ...(definition.params === undefined ? {} : { params: definition.params }),
      });
    }
    return registry;
  }

  /**
   * Calls a host capability for an install: denied unless granted, arguments
   * and result validated. Error messages name the capability and the paths at
   * fault, never the values (they may be personal data).
   */
  async invoke(name: string, args: unknown, call: InvokeHostCapability): Promise<unknown> {
    const bare = stripPrefix(name);
    const definition = this.#definitions.get(bare);
    if (definition === undefined) {
      throw new HostCapabilityError("E_HOST_CAPABILITY_UNKNOWN", `host capability "host:${bare}" is not registered by this host`, {
        capability: `host:${bare}`,
      });
    }
    const grant = call.grants.find((candidate) => candidate.name === `host:${bare}`);
    if (grant === undefined) {
      throw new HostCapabilityError(
        "E_CAPABILITY_DENIED",
        `install ${call.install.id} was not granted "host:${bare}"; an admin must grant it (install or upgrade with the capability in grants)`,
        { capability: `host:${bare}`, installId: call.install.id },
      );
    }
    const params = "params" in grant ? grant.params : undefined;
    const parsedArgs = definition.args.safeParse(args);
    if (!parsedArgs.success) {
      throw new HostCapabilityError("E_HOST_CAPABILITY_ARGS", `host:${bare}: invalid arguments: ${describeIssues(parsedArgs.error)}`, {
        capability: `host:${bare}`,
        issues: issuePaths(parsedArgs.error),
      });
    }
    const result = await definition.handler(parsedArgs.data, { install: call.install, principal: call.principal, params });
    const parsedResult = definition.result.safeParse(result);
    if (!parsedResult.success) {
      throw new HostCapabilityError(
        "E_HOST_CAPABILITY_RESULT",
        `host:${bare}: the host's implementation returned a value its result schema rejects: ${describeIssues(parsedResult.error)}; fix the implementation`,
        { capability: `host:${bare}`, issues: issuePaths(parsedResult.error) },
      );
    }
    return parsedResult.data;
  }
}

function stripPrefix(name: string): string {
  return name.startsWith("host:") ? name.slice(5) : name;
}

/** At most KEPT_ISSUE_LIMIT of them: the arguments come from extension code, and an array of 100,000 bad items is one call. */
function issuePaths(error: z.ZodError): Array<{ path: string; message: string }> {
  return keepIssues(
    error.issues.slice(0, KEPT_ISSUE_LIMIT).map((issue) => ({
      path: issue.path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("").replace(/^\./, ""),
      message: issue.message,
    })),
  );
}

function describeIssues(error: z.ZodError): string {
  return formatIssueLines(issuePaths(error), (issue) => `${issue.path === "" ? "(value)" : issue.path}: ${issue.message}`, error.issues.length).join("; ");
}
