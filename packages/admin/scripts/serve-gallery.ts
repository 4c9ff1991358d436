/** Serves the gallery until interrupted: pnpm --filter @annex/admin gallery */
import { startGalleryServer } from "./gallery-harness.js";

const server = await startGalleryServer();
console.log(`gallery: ${server.url} (add ?theme=dark, or ?consent to open the consent dialog); Ctrl+C to stop`);
process.on("SIGINT", () => void server.close().then(() => process.exit(0)));
