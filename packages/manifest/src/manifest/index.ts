export * from "./capabilities.js";
export { ManifestError, type ManifestIssue } from "./errors.js";
export {
  manifestSchema,
  type Manifest,
  type ManifestInput,
  RUNTIME_CLASSES,
  type RuntimeClass,
  UI_SLOTS,
  type UiSlot,
  STORAGE_KINDS,
  type StorageKind,
  LIMIT_MAXIMA,
  STORAGE_LIMIT_MAXIMA,
  type KvStorageLimits,
  type SqlStorageLimits,
} from "./schema.js";
export { ENDPOINT_CLASSES, type EndpointClass, HTTP_METHODS, type HttpMethod, type Endpoint, NEVER_FORWARDED_REQUEST_HEADERS, HOST_HEADER_PREFIX } from "./endpoints.js";
export { CONFIG_SETTING_TYPES, type ConfigSettingType, type ConfigSetting, isHttpUrl, MAX_URL_LENGTH } from "./config.js";
export { type Job, nextCronRun, isTimeZone } from "./jobs.js";
export { normaliseRoutePath } from "./primitives.js";
export { eventTypeCovers, hostCovers } from "./coverage.js";
export { DEFAULT_UI_ROOT, isUiPath, uiRootOf } from "./ui-root.js";
export { parseManifest, parseManifestText, type ParseManifestOptions, type ParseManifestTextOptions, MAX_MANIFEST_TEXT_LENGTH } from "./parse.js";
export { type HostCapabilityRegistry, type HostCapabilityDefinition } from "./host-capabilities.js";
export {
  diffCapabilities,
  diffUpgrade,
  missingGrants,
  type CapabilityDiff,
  type UpgradeDiff,
  type CapabilityParamsChange,
  type WidenedCapability,
  type NarrowedCapability,
} from "./grants.js";
export {
  describeExposure,
  describeExposedEndpoint,
  describeExposedPage,
  diffExposure,
  EXPOSURE_AUDIENCES,
  type ExposureAudience,
  type Exposure,
  type ExposedEndpoint,
  type ExposedPage,
  type ExposureChange,
  type ExposureDiff,
} from "./exposure.js";
export {
  checkTrustPolicy,
  assertTrustPolicy,
  parseTrustPolicy,
  trustPolicySchema,
  PolicyError,
  type TrustPolicy,
  type TrustClassPolicy,
  type TrustPolicyViolation,
} from "./trust-policy.js";
export { manifestJsonSchema, MANIFEST_JSON_SCHEMA_ID } from "./json-schema.js";
