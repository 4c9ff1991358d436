import type { AnnexExtPage } from "./fixtures/ext-app.js";
import type { AnnexHostPage } from "./fixtures/host-app.js";
import type { Outcome } from "./fixtures/outcome.js";

/** Globals the test pages define, for code the tests run inside them. */
declare global {
  var annexHost: AnnexHostPage;
  var annexExt: AnnexExtPage;
  var connection: Promise<Outcome<{ version: number; context: unknown }>>;
}
