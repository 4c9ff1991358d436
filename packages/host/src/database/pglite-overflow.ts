import type { PGlite } from "@electric-sql/pglite";

/**
 * Puts PostgreSQL's own "stack depth limit exceeded" back under PGlite.
 *
 * PostgreSQL stops a statement that recurses too deep before its stack runs
 * out: it measures its C stack and raises an ERROR (SQLSTATE 54001), whose
 * recovery aborts the transaction and releases what the statement held.
 * Under PGlite, most of a WebAssembly frame sits on V8's native stack instead
 * (~1 MB on Node's main thread), and that runs out first: V8 throws a
 * RangeError through the C frames. PGlite's loop swallows any exception that
 * is not PostgreSQL's own error and reads the next message, with PostgreSQL
 * half-way through the statement: its locks held, its snapshot active, its
 * transaction neither committed nor aborted. The statement answers nothing,
 * and a later one waits on a lock the broken one holds, which hangs the
 * thread for good. Statement-shape rules (see storage/sql/nesting.ts) cannot
 * close this: a value built over many statements (a jsonb nested 70 levels
 * deeper by each of 90 UPDATEs) overflows in whichever statement next copies
 * it.
 *
 * So the exception is caught where PGlite calls into PostgreSQL's loop, and
 * turned into the ERROR PostgreSQL would have raised, raised from the top of
 * that loop: PostgreSQL's recovery then runs as for any error (the
 * transaction aborts, its locks and buffers are released, the client gets an
 * ErrorResponse and the rest of the exchange is skipped to its Sync).
 *
 * What the unwound frames would have undone themselves is done here, before
 * raising:
 * - two globals point into them (the innermost error handler and the error
 *   context callbacks): both are reset to the loop's own;
 * - the portal that was running would have been marked failed by its own
 *   handler. Left active, PostgreSQL never drops it nor frees what it holds
 *   (its executor's memory: a few MB per overflow here, until PGlite ran out
 *   of memory), and the next Bind of its name fails with "cannot drop active
 *   portal" (for the unnamed portal: every later statement). So this finds
 *   it in PostgreSQL's memory and marks it failed, as PostgreSQL's own
 *   handler does, after checking the structure around it (see
 *   markRunningPortalFailed).
 *
 * Inside a critical section PostgreSQL turns an ERROR into a PANIC, and so it
 * does here; statements do not recurse inside one.
 */
export interface OverflowGuard {
  /** Statements stopped here so far (a count for tests and metrics). */
  readonly overflows: number;
  /**
   * Of those, how many ran in no portal this could find: one that overflowed
   * while being parsed (before it has a portal), or a PGlite of another
   * layout (then the portal and its memory stay until PGlite closes).
   */
  readonly portalsLeft: number;
}

/** The SQLSTATE PostgreSQL gives "stack depth limit exceeded". */
export const STACK_DEPTH_SQLSTATE = "54001";

const ERROR = 21; // elog.h
const guards = new WeakMap<object, OverflowGuard>();

/** The parts of PGlite's Emscripten module this uses: PostgreSQL's exports and globals, by address. */
interface Exports {
  wasmMemory: WebAssembly.Memory;
  stackSave(): number;
  stackRestore(sp: number): void;
  _malloc(size: number): number;
  _PostgresMainLoopOnce(): void;
  _errstart(elevel: number, domain: number): number;
  _errcode(sqlstate: number): number;
  _errmsg(format: number, varargs: number): number;
  _errhint(format: number, varargs: number): number;
  _errfinish(filename: number, line: number, funcname: number): void;
  _PG_exception_stack: number;
  _error_context_stack: number;
}

/**
 * Installs the guard on a ready PGlite, once (a second call answers the first
 * guard). Answers undefined when this PGlite build lacks an export the guard
 * needs: then nothing is changed.
 */
export function guardStackOverflow(pglite: PGlite): OverflowGuard | undefined {
  const mod = (pglite as unknown as { mod?: Partial<Exports> }).mod;
  if (mod === undefined) return undefined;
  const known = guards.get(mod);
  if (known !== undefined) return known;
  if (!hasExports(mod)) return undefined;

  // A fresh view each time: the memory's buffer is replaced whenever it grows.
  const words = () => new Int32Array(mod.wasmMemory.buffer);
  // Between exchanges the innermost handler is the loop's own: its jump buffer is what an ERROR must reach.
  const loopHandler = words()[mod._PG_exception_stack >> 2]!;
  if (loopHandler === 0) return undefined;
  const message = cString(mod, "stack depth limit exceeded");
  const hint = cString(mod, "The statement recursed deeper than the embedded database's stack allows (a deeply nested value or expression).");
  const sqlstate = makeSqlState(STACK_DEPTH_SQLSTATE);

  const state = { overflows: 0, portalsLeft: 0 };
  const found: Found = { entries: [], contextNames: undefined };
  const loopOnce = mod._PostgresMainLoopOnce.bind(mod);
  mod._PostgresMainLoopOnce = () => {
    const sp = mod.stackSave();
    try {
      loopOnce();
    } catch (error) {
      if (!isStackOverflow(error)) throw error;
      state.overflows++;
      mod.stackRestore(sp);
      words()[mod._error_context_stack >> 2] = 0;
      words()[mod._PG_exception_stack >> 2] = loopHandler;
      if (!markRunningPortalFailed(mod.wasmMemory, found)) state.portalsLeft++;
      // errfinish does not return for an ERROR: PostgreSQL's longjmp to its loop becomes PGlite's exit(100),
      // which PGlite's own catch answers with PostgreSQL's recovery.
      mod._errstart(ERROR, 0);
      mod._errcode(sqlstate);
      mod._errmsg(message, 0);
      mod._errhint(hint, 0);
      mod._errfinish(0, 0, 0);
      throw error;
    }
  };
  const guard: OverflowGuard = {
    get overflows() {
      return state.overflows;
    },
    get portalsLeft() {
      return state.portalsLeft;
    },
  };
  guards.set(mod, guard);
  return guard;
}

/*
 * PostgreSQL 18's layout on wasm32 (PGlite 0.5): a portal table entry is the
 * portal's name (NAMEDATALEN bytes) then the Portal; PortalData starts with
 * its name (a pointer back to that entry), has its memory context at 8 and
 * its status at 80; a portal's MemoryContextData has at 32 the address of the
 * constant "PortalContext". Nothing is written unless all of that holds, so a
 * PGlite with another layout is left as it was (and counted in portalsLeft).
 */
const NAMEDATALEN = 64;
const PORTAL_CONTEXT = 8;
const PORTAL_STATUS = 80;
const CONTEXT_NAME = 32;
const PORTAL_ACTIVE = 3;
const PORTAL_FAILED = 5;
const PORTAL_CONTEXT_NAME = Buffer.from("PortalContext\0", "latin1");

/** What a guard remembers between overflows: portal table entries it found, and where the context name lies. */
interface Found {
  entries: number[];
  contextNames: number[] | undefined;
}

/**
 * Marks the running portal failed if it was active; answers whether it found
 * the portal (one only bound, not active yet, needs nothing: PostgreSQL drops
 * it with the transaction).
 *
 * PostgreSQL keeps no pointer to it that Annex can read (ActivePortal is not
 * exported), so it is found in memory: every portal's context holds the
 * address of one constant, "PortalContext"; the portal holds its context's
 * address; the portal's table entry and the portal point at each other.
 * Reading PGlite's memory for those took ~30 ms (500 MB) here, so the entries
 * found before are tried first: PGlite runs one statement at a time, nearly
 * always in the unnamed portal, and PostgreSQL's hash table hands a dropped
 * entry to the next portal created, so the next overflow's portal is nearly
 * always in an entry found before.
 */
function markRunningPortalFailed(memory: WebAssembly.Memory, found: Found): boolean {
  const bytes = Buffer.from(memory.buffer);
  const words = new Int32Array(memory.buffer);
  const word = (address: number): number => (address > 0 && address + 4 <= bytes.length && address % 4 === 0 ? words[address >> 2]! : 0);
  found.contextNames ??= occurrences(bytes, PORTAL_CONTEXT_NAME);
  const contextNames = found.contextNames;
  /** The Portal in the table entry at `entry`, when it is open (not done nor failed) and all around it holds. */
  const openPortalIn = (entry: number): number => {
    const portal = word(entry + NAMEDATALEN);
    if (portal === 0 || word(portal) !== entry) return 0;
    const status = word(portal + PORTAL_STATUS);
    if (status < 0 || status > PORTAL_ACTIVE) return 0;
    return contextNames.includes(word(word(portal + PORTAL_CONTEXT) + CONTEXT_NAME)) ? portal : 0;
  };
  const mark = (portal: number): true => {
    if (words[(portal + PORTAL_STATUS) >> 2] === PORTAL_ACTIVE) words[(portal + PORTAL_STATUS) >> 2] = PORTAL_FAILED;
    return true;
  };

  for (const entry of found.entries) {
    const portal = openPortalIn(entry);
    if (portal !== 0) return mark(portal);
  }
  for (const name of contextNames) {
    for (const at of occurrences(bytes, int32(name))) {
      if (at % 4 !== 0) continue;
      for (const reference of occurrences(bytes, int32(at - CONTEXT_NAME))) {
        const portal = reference - PORTAL_CONTEXT;
        const entry = word(portal);
        if (reference % 4 !== 0 || openPortalIn(entry) !== portal) continue;
        found.entries.unshift(entry);
        found.entries.length = Math.min(found.entries.length, 8);
        return mark(portal);
      }
    }
  }
  return false;
}

function occurrences(bytes: Buffer, needle: Buffer): number[] {
  const found: number[] = [];
  for (let at = bytes.indexOf(needle); at !== -1; at = bytes.indexOf(needle, at + 1)) found.push(at);
  return found;
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32LE(value);
  return buffer;
}

/** The guard installed on this PGlite, if any (installs none). */
export function overflowGuardOf(pglite: PGlite): OverflowGuard | undefined {
  const mod = (pglite as unknown as { mod?: object }).mod;
  return mod === undefined ? undefined : guards.get(mod);
}

function hasExports(mod: Partial<Exports>): mod is Exports {
  return (
    mod.wasmMemory instanceof WebAssembly.Memory &&
    typeof mod.stackSave === "function" &&
    typeof mod.stackRestore === "function" &&
    typeof mod._malloc === "function" &&
    typeof mod._PostgresMainLoopOnce === "function" &&
    typeof mod._errstart === "function" &&
    typeof mod._errcode === "function" &&
    typeof mod._errmsg === "function" &&
    typeof mod._errhint === "function" &&
    typeof mod._errfinish === "function" &&
    typeof mod._PG_exception_stack === "number" &&
    typeof mod._error_context_stack === "number"
  );
}

/**
 * V8's own stack running out. Only that: any other exception from inside
 * PostgreSQL is left to PGlite as before.
 */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack size/i.test(error.message);
}

/** A NUL-terminated copy in PostgreSQL's memory, for the life of the instance. */
function cString(mod: Exports, text: string): number {
  const bytes = Buffer.from(`${text.replaceAll("%", "%%")}\0`, "utf8");
  const address = mod._malloc(bytes.length);
  new Uint8Array(mod.wasmMemory.buffer, address, bytes.length).set(bytes);
  return address;
}

/** PostgreSQL's MAKE_SQLSTATE: five characters, six bits each, the first lowest. */
function makeSqlState(code: string): number {
  let value = 0;
  for (let i = 0; i < 5; i++) value += ((code.charCodeAt(i) - 48) & 0x3f) << (6 * i);
  return value;
}
