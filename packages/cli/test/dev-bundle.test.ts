import { execFileSync } from "node:child_process";
import { mkdtemp, open, rm } from "node:fs/promises";
import { constants } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { buildDevBundle, devVersion } from "../src/dev/dev-bundle.js";

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

it("names dev versions as pre-releases of the folder's version", () => {
  expect(devVersion("1.2.0", 7)).toBe("1.2.0-dev.7");
  expect(devVersion("1.2.0-beta.1", 7)).toBe("1.2.0-beta.1.dev.7");
});

it("refuses an annex.json that is a FIFO instead of waiting on it forever", async () => {
  const dir = await mkdtemp(join(tmpdir(), "annex-dev-fifo-"));
  folders.push(dir);
  execFileSync("mkfifo", [join(dir, "annex.json")]);
  let hung = false;
  // Should the build wait on the FIFO, open its other end after 5 s so the test fails instead of hanging the run.
  const timer = setTimeout(() => {
    hung = true;
    void open(join(dir, "annex.json"), constants.O_WRONLY | constants.O_NONBLOCK).then((handle) => handle.close(), () => undefined);
  }, 5_000);
  const error = await buildDevBundle(dir, 1, undefined).catch((caught: unknown) => caught);
  clearTimeout(timer);
  expect(hung).toBe(false);
  expect(error).toMatchObject({ code: "E_PACK_PATH" });
});
