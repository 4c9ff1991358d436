import type { AtsHostPage } from "./fixtures/host-page.js";

declare global {
  // The test host page's handle, set by host-page.ts and driven through page.evaluate.
  var atsHost: AtsHostPage;
}
