export { createReferenceHost, DEMO_PASSWORD, type ReferenceHost, type ReferenceHostOptions } from "./app.js";
export { DEFAULT_SIGN_IN_LIMITS, type SignInLimits } from "./auth/sign-in-throttle.js";
export { loadDemoKeys, type DemoKeys } from "./annex/demo-keys.js";
export { findExamples, publishExamples, type ExampleFolder, type PublishExamplesResult } from "./annex/example-extensions.js";
export { packageRoot } from "./package-root.js";
export { InstallLogBuffer, type InstallLogLine } from "./annex/install-logs.js";
