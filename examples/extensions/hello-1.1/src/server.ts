/**
 * Hello 1.1.0's server code is 1.0.0's, unchanged: what 1.1.0 adds is on
 * its page (a toast after each greeting). `annex pack` bundles this file and
 * what it imports into the single module `server/index.js`.
 */
export { greet, hello } from "../../hello/src/server.js";
