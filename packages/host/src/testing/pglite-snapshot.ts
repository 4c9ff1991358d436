import { readFile, rename, writeFile } from "node:fs/promises";
import type { PGlite } from "@electric-sql/pglite";
import { AnnexError } from "@annex/manifest";
import { importPGlite } from "../database/pglite-module.js";
import { isTar } from "../database/open.js";

/**
 * A fresh PGlite spends most of its start (≈2.5–3.5 s on a 2-core machine) in
 * initdb; one started from the data folder of a cluster that has just been
 * initialised takes ≈1 s. A suite writes that folder once, in its global
 * setup, and every test file's PGlite backend starts from it (the host
 * README's test section shows the setup; its block runs in the docs test).
 *
 * The snapshot is a cluster nothing has touched, made by this very PGlite, so a
 * database started from it is the database `PGlite.create()` gives.
 */
export const PGLITE_SNAPSHOT_ENV = "ANNEX_TEST_PGLITE_SNAPSHOT";

export class PGliteSnapshotError extends AnnexError {
  declare readonly code: "E_PGLITE_SNAPSHOT";

  constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super("E_PGLITE_SNAPSHOT", message, details, options);
  }
}

/** Writes the data folder of a newly initialised PGlite to `path` (a tar file) and returns `path`. */
export async function writePGliteSnapshot(path: string): Promise<string> {
  const { PGlite } = await importPGlite();
  const pglite = await PGlite.create();
  try {
    const image = new Uint8Array(await (await pglite.dumpDataDir("none")).arrayBuffer());
    // Another process may read the path while this one writes: it sees the whole file or none.
    const partial = `${path}.${process.pid}.partial`;
    await writeFile(partial, image);
    await rename(partial, path);
    return path;
  } finally {
    await pglite.close();
  }
}

/**
 * The snapshot at `path`, read and checked to be a tar (`E_PGLITE_SNAPSHOT` naming the path when it cannot be read
 * or is not one).
 */
export async function readPGliteSnapshot(path: string): Promise<Uint8Array> {
  let image: Uint8Array;
  try {
    image = await readFile(path);
  } catch (error) {
    throw new PGliteSnapshotError(
      `PGlite snapshot ${path} (${PGLITE_SNAPSHOT_ENV}) cannot be read: write it with writePGliteSnapshot(path) in the suite's global setup, or unset ${PGLITE_SNAPSHOT_ENV}`,
      { path },
      { cause: error },
    );
  }
  // Checked here: PGlite, handed something else, tries it as gzip too and leaves that failure unhandled.
  if (!isTar(image)) throw notASnapshot(path);
  return image;
}

function notASnapshot(path: string, cause?: unknown): PGliteSnapshotError {
  return new PGliteSnapshotError(
    `PGlite could not start from the snapshot ${path} (${PGLITE_SNAPSHOT_ENV}): it is not a data folder written by writePGliteSnapshot with this PGlite version; write it again`,
    { path },
    cause === undefined ? undefined : { cause },
  );
}

/** A new PGlite, started from the snapshot at `path` when one is given. */
export async function createPGliteFrom(path: string | undefined): Promise<PGlite> {
  const { PGlite } = await importPGlite();
  if (path === undefined || path === "") return PGlite.create();
  const image = await readPGliteSnapshot(path);
  try {
    return await PGlite.create({ loadDataDir: new Blob([new Uint8Array(image)], { type: "application/x-tar" }) });
  } catch (error) {
    throw notASnapshot(path, error);
  }
}
