// The gateway's public API; src/index.ts re-exports this module. A gateway is made by createHost({ gateway }).
export type { Authenticate, Authorize, Gateway, GatewayOptions, GatewayPolicy, GatewayStats, RequestInfo, ResolveTenant } from "./types.js";
export { DEFAULT_AUDIT_SAMPLING } from "./audit-sampler.js";
export type { AuditSamplingOptions } from "./audit-sampler.js";
export { GatewayError } from "./errors.js";
export type { GatewayErrorCode } from "./errors.js";
export type { GatewayProblemCode } from "./problem.js";
export { DEFAULT_PREFIXES } from "./paths.js";
export type { EndpointFamily, GatewayPrefixes } from "./paths.js";
export { DEFAULT_REQUEST_HEADERS, DEFAULT_RESPONSE_HEADERS } from "./headers.js";
export type { HeaderPolicyOptions } from "./headers.js";
export type { RateLimit } from "./rate-limit.js";
export type { RoutableEndpoint } from "./routes.js";
export { DEFAULT_WEBHOOK_TOLERANCE_SECONDS, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, signWebhook } from "./webhook-signature.js";
export type { SignedWebhook } from "./webhook-signature.js";
export { createMemoryWebhookSecrets, generateWebhookSecret } from "./webhook-secrets.js";
export type { MemoryWebhookSecrets, WebhookInstall, WebhookSecretStore } from "./webhook-secrets.js";
export { createDatabaseWebhookSecrets, type DatabaseWebhookSecrets, type DatabaseWebhookSecretsOptions, type WebhookSecretActor } from "./database-webhook-secrets.js";
export type { TrustedOrigins } from "./cross-site.js";
