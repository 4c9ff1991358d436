import type { mountExtensionFrame } from "../../src/host/index.js";
import type { AnnexExtPage } from "./fixtures/ext-app.js";
import type { AnnexHostPage } from "./fixtures/host-app.js";
import type { Outcome } from "./fixtures/outcome.js";

/** Globals the test pages define, for code the tests run inside them. */
declare global {
  var annexHost: AnnexHostPage;
  var annexExt: AnnexExtPage;
  var connection: Promise<Outcome<{ version: number; context: unknown }>>;
  /** The mount-entry fixture's copy of mountExtensionFrame, where a test added it to the host page. */
  var mountFrame: typeof mountExtensionFrame;
}
