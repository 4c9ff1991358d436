import { z } from "zod";
import { AnnexError } from "../errors.js";
import { formatIssueLines, keepIssues } from "../issue-list.js";
import { ENDPOINT_CLASSES, type EndpointClass } from "./endpoints.js";
import { fromZodIssues } from "./issues.js";
import { pathToString } from "./paths.js";
import { PROTO_KEY_MESSAGE, protoKeyPaths } from "./proto-keys.js";
import type { Manifest } from "./schema.js";

/**
 * What each trust class (the class a trust-store key carries: first-party,
 * partner, private, community …) may be granted. Deny by default: a trust
 * class the policy does not list may be granted nothing, and a capability or
 * endpoint class a listed class does not name is refused.
 */
export interface TrustClassPolicy {
  /** Capability names, or patterns ending in "*": "host:*", "host:crm.*", "events.*", "*" (everything). */
  capabilities: readonly string[];
  /** Endpoint classes extensions of this class may declare. */
  endpointClasses: readonly EndpointClass[];
}

export type TrustPolicy = Readonly<Record<string, TrustClassPolicy>>;

export interface TrustPolicyViolation {
  /** Path into the manifest, e.g. `capabilities[2]` or `endpoints[0].class`. */
  path: string;
  message: string;
}

/** Codes: E_POLICY (the manifest asks for what its trust class may not be granted), E_POLICY_INVALID (the policy itself is malformed). */
export class PolicyError extends AnnexError {
  declare readonly code: "E_POLICY" | "E_POLICY_INVALID";
  readonly violations: readonly TrustPolicyViolation[];

  /** How many violations were found; more than `violations.length` when the list was cut. */
  readonly violationCount: number;

  constructor(code: "E_POLICY" | "E_POLICY_INVALID", message: string, violations: readonly TrustPolicyViolation[]) {
    const kept = keepIssues(violations);
    super(code, message, { violations: kept.map((v) => ({ ...v })), violationCount: violations.length });
    this.violations = Object.freeze(kept.map((v) => Object.freeze(v)));
    this.violationCount = violations.length;
  }
}

const capabilityPattern = z
  .string()
  .regex(/^(?:\*|[a-z][a-z0-9.:-]*\*?)$/, 'a capability name, or a prefix ending in "*" such as "host:*"; "*" alone allows everything');

export const trustPolicySchema = z.record(
  z.string().min(1, "trust class names are non-empty"),
  z.strictObject({
    capabilities: z.array(capabilityPattern).max(256),
    endpointClasses: z.array(z.enum(ENDPOINT_CLASSES, { error: `endpoint classes are ${ENDPOINT_CLASSES.join(", ")}` })).max(ENDPOINT_CLASSES.length),
  }),
);

/** Validates a policy loaded from configuration. Throws PolicyError (E_POLICY_INVALID) naming each bad field. */
export function parseTrustPolicy(json: unknown): TrustPolicy {
  const protoKeys = protoKeyPaths(json).map((path) => ({ path: pathToString(path), message: PROTO_KEY_MESSAGE }));
  const result = trustPolicySchema.safeParse(json);
  if (result.success && protoKeys.length === 0) return result.data;
  const violations = [...protoKeys, ...(result.success ? [] : fromZodIssues(result.error.issues, json).map((issue) => ({ path: pathToString(issue.path), message: issue.message })))];
  throw new PolicyError(
    "E_POLICY_INVALID",
    `the trust policy is malformed; fix it before checking manifests against it:\n${formatIssueLines(violations, (v) => `  - ${v.path || "(policy)"}: ${v.message}`).join("\n")}`,
    violations,
  );
}

function allows(patterns: readonly string[], name: string): boolean {
  return patterns.some((pattern) => (pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name));
}

/**
 * Everything `manifest` asks for that `trustClass` may not be granted under
 * `policy`: one violation per capability and per endpoint. Empty when the
 * manifest is within the policy. Throws PolicyError (E_POLICY_INVALID) when
 * the policy itself is malformed, rather than guessing what it meant.
 */
export function checkTrustPolicy(manifest: Manifest, trustClass: string, policy: TrustPolicy): TrustPolicyViolation[] {
  const valid = parseTrustPolicy(policy);
  const rules = Object.hasOwn(valid, trustClass) ? valid[trustClass] : undefined;
  const violations: TrustPolicyViolation[] = [];
  const listed = rules === undefined ? ` (the policy does not list trust class "${trustClass}", so it may be granted nothing)` : "";
  manifest.capabilities.forEach((capability, index) => {
    if (rules === undefined || !allows(rules.capabilities, capability.name))
      violations.push({ path: `capabilities[${index}]`, message: `trust class "${trustClass}" may not be granted ${capability.name}${listed}` });
  });
  manifest.endpoints.forEach((endpoint, index) => {
    if (rules === undefined || !rules.endpointClasses.includes(endpoint.class))
      violations.push({ path: `endpoints[${index}].class`, message: `trust class "${trustClass}" may not declare ${endpoint.class} endpoints${listed}` });
  });
  return violations;
}

/** Like checkTrustPolicy, but throws PolicyError (E_POLICY) listing every violation. */
export function assertTrustPolicy(manifest: Manifest, trustClass: string, policy: TrustPolicy): void {
  const violations = checkTrustPolicy(manifest, trustClass, policy);
  if (violations.length === 0) return;
  throw new PolicyError(
    "E_POLICY",
    `${manifest.id}@${manifest.version} asks for more than trust class "${trustClass}" may be granted:\n${formatIssueLines(violations, (v) => `  - ${v.path}: ${v.message}`).join("\n")}`,
    violations,
  );
}
