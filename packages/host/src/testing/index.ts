export * from "./databases.js";
export * from "./test-host.js";
export * from "./frame-server.js";
export * from "./pglite-snapshot.js";
