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
 *   of memory), and a later Bind of its name fails with "cannot drop active
 *   portal". So the dialect runs every statement in a portal of its own name
 *   (PORTAL_PREFIX, see pglite-dialect.ts), and this finds an active one by
 *   that name in PostgreSQL's portal table and marks it failed, as
 *   PostgreSQL's own handler does, after checking the structure around it
 *   (see markRunningPortalFailed). PGlite's own `query()` binds the unnamed
 *   portal, which cannot be found this way: it never runs an extension's
 *   statement.
 *
 * Inside a critical section PostgreSQL turns an ERROR into a PANIC, and so it
 * does here; statements do not recurse inside one.
 */
export interface OverflowGuard {
  /** Statements stopped here so far (a count for tests and metrics). */
  readonly overflows: number;
  /**
   * Of those, how many ran in no portal of the dialect's that this could find:
   * a statement outside the dialect, or a PGlite of another layout. If such a
   * statement had a portal running, its memory stays until PGlite closes.
   */
  readonly portalsLeft: number;
}

/** The names the dialect gives its portals (a counter follows); what the guard looks for after an overflow. */
export const PORTAL_PREFIX = "annex_portal_";

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
  const slots: number[] = [];
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
      if (!markRunningPortalFailed(mod.wasmMemory, slots)) state.portalsLeft++;
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
 * name (NAMEDATALEN bytes) then the Portal; PortalData starts with its name
 * (a pointer back to that entry), has its memory context at 8 and its status
 * at 80; a MemoryContextData has its name at 32 and its identifier at 36 (a
 * portal's context is named "PortalContext" and identified by the portal's
 * name). Nothing is written unless all of that holds, so a PGlite with
 * another layout is left as it was (and counted in portalsLeft).
 */
const NAMEDATALEN = 64;
const PORTAL_CONTEXT = 8;
const PORTAL_STATUS = 80;
const CONTEXT_NAME = 32;
const CONTEXT_IDENT = 36;
const PORTAL_ACTIVE = 3;
const PORTAL_FAILED = 5;
const PREFIX_BYTES = Buffer.from(PORTAL_PREFIX, "latin1");
const PORTAL_CONTEXT_NAME = Buffer.from("PortalContext\0", "latin1");

/**
 * Marks the dialect's running portal failed if it was active; answers whether
 * it found the portal (one that was not active yet, only bound, needs nothing:
 * PostgreSQL drops it with the transaction). Only one can be open: PGlite is
 * one session, and the dialect closes each portal after its statement and
 * never runs one inside another. Looking for it reads PGlite's whole memory
 * (~85 ms for 500 MB), so the table slots where one was found before are
 * tried first: PostgreSQL's hash table reuses freed entries, so the next
 * overflow's portal is nearly always in one of them.
 */
function markRunningPortalFailed(memory: WebAssembly.Memory, slots: number[]): boolean {
  const bytes = Buffer.from(memory.buffer);
  const words = new Int32Array(memory.buffer);
  const word = (address: number): number => (address >= 0 && address + 4 <= bytes.length && address % 4 === 0 ? words[address >> 2]! : 0);
  /** The Portal whose table entry's name starts at `key`, when it is one of the dialect's, not done nor failed. */
  const openPortalAt = (key: number): number => {
    if (key % 4 !== 0 || !bytes.subarray(key, key + PREFIX_BYTES.length).equals(PREFIX_BYTES)) return 0;
    const portal = word(key + NAMEDATALEN);
    if (portal === 0 || word(portal) !== key) return 0;
    if (word(portal + PORTAL_STATUS) > PORTAL_ACTIVE || word(portal + PORTAL_STATUS) < 0) return 0;
    const context = word(portal + PORTAL_CONTEXT);
    if (context === 0 || word(context + CONTEXT_IDENT) !== key) return 0;
    const name = word(context + CONTEXT_NAME);
    if (name === 0 || !bytes.subarray(name, name + PORTAL_CONTEXT_NAME.length).equals(PORTAL_CONTEXT_NAME)) return 0;
    return portal;
  };
  let portal = 0;
  for (const key of slots) if ((portal = openPortalAt(key)) !== 0) break;
  if (portal === 0) {
    for (let key = bytes.indexOf(PREFIX_BYTES); key !== -1; key = bytes.indexOf(PREFIX_BYTES, key + 1)) {
      if ((portal = openPortalAt(key)) === 0) continue;
      slots.unshift(key);
      slots.length = Math.min(slots.length, 8);
      break;
    }
  }
  if (portal === 0) return false;
  if (words[(portal + PORTAL_STATUS) >> 2] === PORTAL_ACTIVE) words[(portal + PORTAL_STATUS) >> 2] = PORTAL_FAILED;
  return true;
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
