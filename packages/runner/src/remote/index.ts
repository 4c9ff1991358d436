export { createRunnerServer, type RunnerServer, type RunnerServerOptions } from "./server.js";
export { createRemoteRunner, type RemoteRunner, type RemoteRunnerOptions } from "./client.js";
export { RemoteRunnerError, RunnerServerError, type RemoteErrorCode } from "./errors.js";
