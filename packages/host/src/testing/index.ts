export * from "./databases.js";
export * from "./test-host.js";
