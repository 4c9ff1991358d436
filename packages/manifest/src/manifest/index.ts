export * from "./capabilities.js";
