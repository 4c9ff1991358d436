export * from "./errors.js";
export * from "./manifest/index.js";
export * from "./bundle/index.js";
export * from "./signing/index.js";
