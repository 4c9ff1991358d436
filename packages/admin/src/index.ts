/**
 * @annex/admin: the admin console's building blocks as framework-free web
 * components on @annex/ui-kit. They take plain data (the shapes of
 * @annex/host's InstallInfo, PublishedVersion, AuditEntry, DeadLetter, JobInfo, JobRun and SqlSchemaStatus) and emit DOM
 * events with typed details; they never fetch, so the host decides how to
 * talk to its admin API.
 */
export { defineAdmin, adminComponents, type AdminComponentTag } from "./define.js";
export { AnnexExtensionList, catalogueOf, type CatalogueEntry, type ExtensionAction, type ExtensionActionDetail } from "./components/extension-list.js";
export { AnnexConsentDialog, type ConsentDetail, type ConsentCancelDetail } from "./components/consent-dialog.js";
export { AnnexCapabilityDiff } from "./components/capability-diff.js";
export { AnnexConfigForm, type ConfigSubmitDetail, type ConfigInvalidDetail } from "./components/config-form.js";
export { AnnexSecretsForm, type SecretsSubmitDetail } from "./components/secrets-form.js";
export { AnnexAuditTable, matchesAuditFilter, type AuditFilterDetail, type AuditMoreDetail } from "./components/audit-table.js";
export { AnnexDeadLetters, type DeadLetterAction, type DeadLetterActionDetail, type DeadLettersMoreDetail } from "./components/dead-letters.js";
export { AnnexJobs, type JobRunDetail, type JobRunsDetail } from "./components/jobs.js";
export { AnnexStorage } from "./components/storage.js";
export { AnnexUsagePanel } from "./components/usage-panel.js";
export { mountInstallFrame, extensionPages, type MountInstallOptions, type ExtensionPage } from "./mount-install.js";
export { summarizeUsage, usageRecordOf } from "./usage.js";
export { checkSetting, configFromFields } from "./config-values.js";
export { describeCapability, grantsFor, type CapabilityText } from "./capability-text.js";
export { AdminError, isAdminError, type AdminErrorCode } from "./errors.js";
export type {
  AdminInstall,
  AdminInstallState,
  AdminVersion,
  AdminAuditEntry,
  AdminAuditFilter,
  AdminDeadLetter,
  AdminJob,
  AdminJobError,
  AdminJobRun,
  AdminJobRunResult,
  AdminInstallStorage,
  AdminKvStorage,
  AdminSqlMigration,
  AdminSqlSchema,
  ConfigIssue,
  UsageRecord,
  UsageSummary,
  DateLike,
} from "./types.js";
