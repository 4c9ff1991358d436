import { TestHostError } from "./test-host.js";

type BuildModule = typeof import("@annex/build");

/**
 * @annex/build, which the test host packs extension folders with (the same
 * packing as `annex pack`). It is an optional peer dependency: hosts in
 * production never build, and only tests that install from a folder need it.
 */
export async function loadBuild(importBuild: () => Promise<BuildModule> = () => import("@annex/build")): Promise<BuildModule> {
  try {
    return await importBuild();
  } catch (error) {
    if (!isMissingPackage(error, "@annex/build")) throw error;
    throw new TestHostError(
      "E_TEST_HOST_SOURCE",
      "the test host packs extension folders with @annex/build, which is not installed: add it to the extension's devDependencies (npm i -D @annex/build), or pass .annex bytes instead of a folder",
      { package: "@annex/build" },
    );
  }
}

function isMissingPackage(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if ((code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") || !(error instanceof Error)) return false;
  // The package itself, not one of its own dependencies: Node quotes the name it could not find.
  return error.message.includes(`'${name}'`) || error.message.includes(`"${name}"`) || error.message.startsWith(`Failed to load url ${name} `);
}
