/**
 * Writes the gallery screenshots committed under docs/ at the repository root:
 *   pnpm --filter @annex/admin screenshot
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { launchChromium } from "../test/e2e/harness.js";
import { packageRoot, startGalleryServer } from "./gallery-harness.js";

const docs = resolve(packageRoot, "../../docs");
mkdirSync(docs, { recursive: true });
const server = await startGalleryServer();
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  for (const [name, query] of [["light", "?theme=light"], ["dark", "?theme=dark"], ["consent", "?theme=light&consent"]] as const) {
    await page.goto(`${server.url}${query}`);
    await page.waitForSelector("body[data-ready=true]");
    await page.evaluate(() => document.fonts.ready);
    const path = join(docs, `admin-gallery-${name}.png`);
    await page.screenshot({ path, fullPage: name !== "consent", animations: "disabled" });
    console.log(`wrote ${path}`);
  }
} finally {
  await browser.close();
  await server.close();
}
