import { open, readFile, rm, mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { DatabaseError } from "./errors.js";

/** What a lock file holds: who took it. */
interface Holder {
  pid: number;
  host: string;
  since: string;
}

/** A data directory this process holds; `release` gives it back (once). */
export interface DataDirLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes `<dataDir>.lock` beside a PGlite data directory, or refuses with
 * E_DATABASE_LOCKED. PGlite is one process's database: two PGlite instances
 * on one directory (a second dev server, an admin script, two hosts in one
 * process) both start, both answer, and each overwrites the other's pages,
 * so acknowledged writes are lost without an error. The file is beside the
 * directory, not in it: PGlite initialises a directory that is empty, and
 * the lock must be taken before that. A lock whose process is gone (same
 * machine, no such pid) is stale and taken over.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = `${resolve(dataDir)}.lock`;
  const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  await mkdir(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const file = await open(path, "wx");
      try {
        await file.writeFile(`${JSON.stringify(me)}\n`);
      } finally {
        await file.close();
      }
      let released = false;
      return {
        path,
        async release() {
          if (released) return;
          released = true;
          // Only our own: a lock someone removed by hand and another process then took stays theirs.
          const now = await readHolder(path);
          if (now !== undefined && now.pid === me.pid && now.since === me.since) await rm(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = await readHolder(path);
    if (holder !== undefined && !stale(holder)) {
      throw new DatabaseError(
        "E_DATABASE_LOCKED",
        `database: the PGlite data directory ${resolve(dataDir)} is in use by process ${holder.pid} on ${holder.host} (since ${holder.since}); ` +
          `PGlite serves one process: close that host first, or use PostgreSQL for several processes (docs/scale-out.md). ` +
          `If no such process uses it, delete ${path}`,
        { dataDir: resolve(dataDir), lock: path, pid: holder.pid, host: holder.host },
      );
    }
    // Stale (its process is gone) or unreadable (a crash while it was being written): take it over.
    await rm(path, { force: true });
  }
  throw new DatabaseError("E_DATABASE_LOCKED", `database: could not take the lock ${path} of the PGlite data directory ${resolve(dataDir)}: other processes keep taking it`, {
    dataDir: resolve(dataDir),
    lock: path,
  });
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as Partial<Holder>;
    if (typeof parsed.pid !== "number" || typeof parsed.host !== "string" || typeof parsed.since !== "string") return undefined;
    return parsed as Holder;
  } catch {
    return undefined;
  }
}

/** A holder on this machine whose process no longer runs. One on another machine (a shared disk) is never judged stale. */
function stale(holder: Holder): boolean {
  if (holder.host !== hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
