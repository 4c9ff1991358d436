// Exposes the real mountExtensionFrame on the test host page (injected with page.addScriptTag), for mounts into containers of other documents.
import { mountExtensionFrame } from "../../src/host/index.js";
(globalThis as unknown as { mountFrame: typeof mountExtensionFrame }).mountFrame = mountExtensionFrame;
