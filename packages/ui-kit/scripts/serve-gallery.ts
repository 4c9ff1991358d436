/**
 * Serves the gallery for a look in any browser (module scripts do not load from file://):
 *   pnpm --filter @annex/ui-kit gallery
 */
import { ensureBuilt, startGalleryServer } from "./gallery-harness.js";

ensureBuilt();
startGalleryServer().then(
  (server) => {
    console.log(`gallery: ${server.url}  (add ?theme=dark for the dark theme; Ctrl+C to stop)`);
    process.on("SIGINT", () => void server.close().then(() => process.exit(0)));
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
