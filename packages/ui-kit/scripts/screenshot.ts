/**
 * Writes the gallery screenshots committed under docs/ at the repository root:
 *   pnpm --filter @annex/ui-kit screenshot
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { ensureBuilt, launchChromium, packageRoot, startGalleryServer } from "./gallery-harness.js";

const docs = resolve(packageRoot, "../../docs");

async function main(): Promise<void> {
  ensureBuilt();
  mkdirSync(docs, { recursive: true });
  const server = await startGalleryServer();
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    for (const theme of ["light", "dark"] as const) {
      await page.goto(`${server.url}?theme=${theme}`);
      await page.waitForSelector("body[data-ready=true]");
      await page.evaluate(() => document.fonts.ready);
      const path = join(docs, `ui-kit-gallery-${theme}.png`);
      await page.screenshot({ path, fullPage: true, animations: "disabled" });
      console.log(`wrote ${path}`);
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
