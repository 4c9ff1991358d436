export * from "./errors.js";
export { formatIssueLines, keepIssues, KEPT_ISSUE_LIMIT, MESSAGE_ISSUE_LIMIT } from "./issue-list.js";
export * from "./manifest/index.js";
export * from "./bundle/index.js";
export * from "./signing/index.js";
