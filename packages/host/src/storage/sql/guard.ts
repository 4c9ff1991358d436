import { loadModule, parseSync } from "libpg-query";
import {
  ALTER_TABLE_COMMANDS,
  COMMENT_OBJECTS,
  DROP_OBJECTS,
  FUNCTIONS,
  INDEX_METHODS,
  MIGRATION_STATEMENTS,
  NESTED_STATEMENTS,
  QUERY_STATEMENTS,
  REFUSED_TYPES,
  RENAME_OBJECTS,
  SERVER_ONLY_FUNCTIONS,
  SQL_VALUE_FUNCTIONS,
} from "./allowlist.js";
import { refused, SqlStorageError } from "./errors.js";
import type { Node } from "./parse-tree.js";
import { checkGrowth } from "./growth.js";
import { checkNesting, MAX_NESTING } from "./nesting.js";
import { checkJsonPathUse } from "./jsonpath.js";
import { valueFreeEstimate } from "./plan-costs.js";
import { checkNeedleUse, type NeedleCheck } from "./needles.js";
import { checkRegexUse, type RegexParameter } from "./regex.js";

export interface GuardOptions {
  /** The install's schema: the only schema a statement may name. */
  schema: string;
  /** `query`: one DML statement (ctx.sql.query); `migration`: DDL too, any number of statements. */
  mode: "query" | "migration";
  /** PGlite cannot interrupt a statement: refuse what the planner cannot bound (recursive CTEs, generate_series, JSON_TABLE). */
  interruptible: boolean;
}

export interface CheckedStatement {
  /** The statement's own text, cut out of the input without its separator. */
  text: string;
  /** The parse node's kind, e.g. `SelectStmt`. */
  kind: string;
  /** A plain SELECT whose result may be capped with an outer LIMIT (no data-modifying CTE, no locking clause). */
  cappable: boolean;
  /** Its planner estimate cannot depend on its parameter values (see plan-costs.ts). */
  valueFreeEstimate: boolean;
  /**
   * Unqualified names of types the statement drops, renames, alters or
   * comments on. search_path puts the install's schema first, but a name it
   * does not hold resolves to pg_catalog (`ALTER TYPE int4 RENAME …`): the
   * syntax cannot tell which, so the migration runner looks each one up
   * before the statement runs (an owned type or none at all is allowed).
   */
  typeTargets: string[];
  /**
   * The parameters used as regular-expression patterns (regex.ts): their
   * values are checked on every call, before the statement is sent
   * (checkRegexParameters); literal patterns were checked here.
   */
  regexParams: RegexParameter[];
  /**
   * The search strings, patterns and compared operands with parameters
   * (needles.ts): their values' lengths are checked on every call, before
   * the statement is sent (checkNeedleParameters); literal ones were checked here.
   */
  needleParams: NeedleCheck[];
}

let loaded: Promise<void> | undefined;

/** The parser is WebAssembly, compiled once per process on first use. */
export function loadParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/**
 * Parses `text` with PostgreSQL's own parser (libpg_query) and checks every
 * node of every statement against the allowlist. What PostgreSQL will run is
 * what was checked: comments, dollar quoting and string escapes are the
 * parser's business, not a regular expression's. Throws E_SQL_SYNTAX or
 * E_SQL_REFUSED; returns the statements, each cut out of the text.
 */
export function checkSql(text: string, options: GuardOptions): CheckedStatement[] {
  let tree: { stmts?: Array<{ stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }> };
  try {
    tree = parseSync(text);
  } catch (error) {
    // libpg_query's own recursion runs out of V8's stack (as PGlite's would): the text nests too deeply, it is not wrong.
    if (error instanceof RangeError) throw refused(`the statement nests too deeply to be parsed (more than the ${MAX_NESTING} levels allowed)`, { maxNesting: MAX_NESTING });
    throw new SqlStorageError("E_SQL_SYNTAX", `SQL syntax error: ${(error as Error).message}`, {
      position: (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition,
    });
  }
  const statements = tree.stmts ?? [];
  if (statements.length === 0) throw refused("the text holds no statement");
  if (options.mode === "query" && statements.length > 1) {
    throw refused(`ctx.sql.query runs exactly one statement; this text holds ${statements.length} (split it into several calls)`);
  }
  const bytes = Buffer.from(text, "utf8");
  return statements.map((entry) => {
    const [kind, node] = only(entry.stmt);
    const allowed = options.mode === "query" ? QUERY_STATEMENTS : MIGRATION_STATEMENTS;
    if (!allowed.has(kind)) {
      // A schema change tried at run time is the usual first mistake with an owned schema: say where it belongs.
      const where = options.mode === "query" && MIGRATION_STATEMENTS.has(kind) ? "; schema changes go in a migration file (storage.migrations in annex.json, e.g. migrations/0001_create_items.sql), which the host runs at install and upgrade" : "";
      throw refused(`${describeKind(kind)} is not allowed ${options.mode === "query" ? "in ctx.sql.query" : "in a migration"}${where}`, { statement: kind });
    }
    // First: the walks below recurse, and PGlite's planner would run out of stack on what they let through.
    checkNesting(node, kind);
    const checker = new Checker(options);
    checker.statement(kind, node);
    checker.walk(node);
    checkGrowth(kind, node);
    const start = entry.stmt_location ?? 0;
    const end = entry.stmt_len === undefined || entry.stmt_len === 0 ? bytes.length : start + entry.stmt_len;
    const cappable = kind === "SelectStmt" && !checker.modifies && !checker.locks && node["intoClause"] === undefined;
    // Only what PostgreSQL's scanner skips as whitespace: JS trim() also strips U+FEFF, U+00A0 …, which the scanner
    // reads as identifier characters ("::regrole\ufeff" is checked as another type than the "::regrole" it would run).
    const own = bytes.subarray(start, end).toString("utf8").replace(SQL_SPACE_AROUND, "");
    return { text: own, kind, cappable, valueFreeEstimate: valueFreeEstimate(node), typeTargets: checker.typeTargets, regexParams: checker.regexParams, needleParams: checker.needleParams };
  });
}

const SQL_SPACE_AROUND = /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g;


function only(wrapper: Node): [string, Node] {
  const keys = Object.keys(wrapper);
  return [keys[0]!, (wrapper[keys[0]!] ?? {}) as Node];
}

function describeKind(kind: string): string {
  return kind.replace(/Stmt$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase() + " (" + kind + ")";
}

function names(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) => {
    const value = (item as { String?: { sval?: string } }).String?.sval;
    return typeof value === "string" ? value : "";
  });
}

class Checker {
  /** A data-modifying statement nested in a SELECT (WITH … DELETE … RETURNING). */
  modifies = false;
  /** SELECT … FOR UPDATE and friends. */
  locks = false;
  /** See CheckedStatement.typeTargets. */
  readonly typeTargets: string[] = [];
  /** See CheckedStatement.regexParams. */
  readonly regexParams: RegexParameter[] = [];
  /** See CheckedStatement.needleParams. */
  readonly needleParams: NeedleCheck[] = [];

  constructor(private readonly options: GuardOptions) {}

  /** Rules of the top-level statement that the node walk alone cannot see. */
  statement(kind: string, node: Node): void {
    switch (kind) {
      case "SelectStmt":
        if (node["intoClause"] !== undefined) throw refused("SELECT … INTO creates a table; use CREATE TABLE in a migration and INSERT … SELECT");
        break;
      case "CreateStmt":
        if (node["tablespacename"] !== undefined) throw refused("tablespaces are the host's: leave TABLESPACE out");
        if (node["accessMethod"] !== undefined) throw refused("table access methods are the host's: leave USING out");
        break;
      case "IndexStmt": {
        if (node["tableSpace"] !== undefined) throw refused("tablespaces are the host's: leave TABLESPACE out");
        const method = node["accessMethod"];
        if (typeof method === "string" && !INDEX_METHODS.has(method)) throw refused(`index method ${method} is not allowed (use ${[...INDEX_METHODS].join(", ")})`);
        break;
      }
      case "AlterTableStmt":
        for (const command of (node["cmds"] as Node[] | undefined) ?? []) {
          const subtype = String((command["AlterTableCmd"] as Node | undefined)?.["subtype"]);
          if (!ALTER_TABLE_COMMANDS.has(subtype)) throw refused(`ALTER TABLE ${subtype.replace(/^AT_/, "")} is not allowed in a migration`, { command: subtype });
        }
        break;
      case "DropStmt": {
        const type = String(node["removeType"]);
        if (!DROP_OBJECTS.has(type)) throw refused(`DROP ${type.replace(/^OBJECT_/, "")} is not allowed in a migration`);
        for (const object of (node["objects"] as Node[] | undefined) ?? []) {
          if (object["List"] !== undefined) this.target(names((object["List"] as Node)["items"]), type);
          if (object["TypeName"] !== undefined) this.target(names((object["TypeName"] as Node)["names"]), type);
        }
        break;
      }
      case "RenameStmt": {
        const type = String(node["renameType"]);
        if (!RENAME_OBJECTS.has(type)) throw refused(`ALTER … RENAME of ${type.replace(/^OBJECT_/, "")} is not allowed in a migration`);
        const object = node["object"] as Node | undefined;
        if (object?.["List"] !== undefined) this.target(names((object["List"] as Node)["items"]), type);
        break;
      }
      case "CommentStmt": {
        const type = String(node["objtype"]);
        if (!COMMENT_OBJECTS.has(type)) throw refused(`COMMENT ON ${type.replace(/^OBJECT_/, "")} is not allowed in a migration`);
        const object = node["object"] as Node | undefined;
        if (object?.["List"] !== undefined) this.target(names((object["List"] as Node)["items"]), type);
        if (object?.["TypeName"] !== undefined) this.target(names((object["TypeName"] as Node)["names"]), type);
        break;
      }
      case "CreateEnumStmt":
        this.qualified(names(node["typeName"]), 2);
        break;
      case "AlterEnumStmt":
        this.target(names(node["typeName"]), "OBJECT_TYPE");
        break;
      case "CreateSeqStmt":
      case "AlterSeqStmt":
        for (const option of (node["options"] as Node[] | undefined) ?? []) {
          const name = (option["DefElem"] as Node | undefined)?.["defname"];
          if (name === "owned_by") throw refused("sequence OWNED BY is not allowed; use an identity column (GENERATED … AS IDENTITY)");
        }
        break;
    }
  }

  /** Walks every node below a statement; each kind of reference is checked wherever it appears. */
  walk(value: unknown): void {
    if (Array.isArray(value)) {
      for (const item of value) this.walk(item);
      return;
    }
    if (typeof value !== "object" || value === null) return;
    const node = value as Node;
    if (typeof node["relname"] === "string") this.relation(node);
    if (Array.isArray(node["names"]) && "typemod" in node) this.type(node);
    for (const [key, child] of Object.entries(node)) {
      // Fields of a specific struct type come unwrapped (`withClause: { recursive }`); Node fields come as `{ Kind: {…} }`.
      if (key === "withClause") this.node("WithClause", child as Node);
      if (key === "intoClause") this.node("IntoClause", child as Node);
      if (/^[A-Z]/.test(key) && typeof child === "object" && child !== null && !Array.isArray(child)) this.node(key, child as Node);
      this.walk(child);
    }
  }

  private node(kind: string, node: Node): void {
    if (kind.endsWith("Stmt")) {
      if (!NESTED_STATEMENTS.has(kind)) throw refused(`${describeKind(kind)} is not allowed inside another statement`);
      if (kind !== "SelectStmt") this.modifies = true;
      if (kind === "SelectStmt" && node["intoClause"] !== undefined) throw refused("SELECT … INTO creates a table; use CREATE TABLE in a migration");
      return;
    }
    // Every place a jsonpath is evaluated takes a checked string literal (jsonpath.ts).
    checkJsonPathUse(kind, node);
    // Every place a regular expression is evaluated takes a checked literal, or a parameter checked per call (regex.ts).
    this.regexParams.push(...checkRegexUse(kind, node));
    // Every search string, pattern or compared operand whose work is a product is bounded (needles.ts).
    this.needleParams.push(...checkNeedleUse(kind, node));
    switch (kind) {
      case "FuncCall":
        return this.function(names(node["funcname"]));
      case "A_Expr":
        return this.operator(names(node["name"]));
      case "SubLink":
        return this.operator(names(node["operName"]));
      case "ColumnRef": {
        const fields = (node["fields"] as unknown[] | undefined) ?? [];
        if (fields.length > 3) throw refused("column references name at most schema.table.column");
        if (fields.length === 3) this.qualified(names(fields).slice(0, 2), 2);
        return;
      }
      case "LockingClause":
        this.locks = true;
        return;
      case "DefElem":
        // An identity column's sequence is created under the name given (`SEQUENCE NAME other_schema.seq`).
        if (node["defname"] === "sequence_name") this.target(names(((node["arg"] as Node | undefined)?.["List"] as Node | undefined)?.["items"]), "OBJECT_SEQUENCE");
        if (node["defname"] === "owned_by") throw refused("sequence OWNED BY is not allowed; use an identity column (GENERATED … AS IDENTITY)");
        return;
      case "WithClause":
        if (node["recursive"] === true && !this.options.interruptible) {
          throw refused("WITH RECURSIVE is not allowed on PGlite, which cannot interrupt a statement that does not end; use a bounded query");
        }
        return;
      case "IntoClause":
        throw refused("SELECT … INTO creates a table; use CREATE TABLE in a migration");
      case "JsonTable":
        // Its rows, nested paths multiplying them, are the planner's guess: see plan-bounds.ts.
        if (!this.options.interruptible) throw refused("JSON_TABLE is not allowed on PGlite, which cannot interrupt a statement: use jsonb_to_recordset or jsonb_array_elements");
        return;
      case "SQLValueFunction":
        // session_user and current_catalog name the host's login user and its database (see SQL_VALUE_FUNCTIONS).
        if (!SQL_VALUE_FUNCTIONS.has(String(node["op"]))) {
          const keyword = String(node["op"]).replace(/^SVFOP_/, "").replace(/_N$/, "").toLowerCase();
          throw refused(`${keyword} is not allowed: it names the host's database user or database`, { keyword });
        }
        return;
      case "XmlExpr":
      case "XmlSerialize":
      case "RangeTableFunc":
        throw refused("XML functions are not allowed");
      case "RangeTableSample":
      case "RangeFunction":
      case "CommonTableExpr":
      case "ResTarget":
        return;
    }
  }

  private relation(node: Node): void {
    const { schema } = this.options;
    if (node["catalogname"] !== undefined) throw refused(`relations name no database: ${node["catalogname"]}.${node["schemaname"]}.${node["relname"]} is outside the extension's schema`);
    const qualifier = node["schemaname"];
    if (qualifier !== undefined && qualifier !== schema) {
      throw refused(`relation ${String(qualifier)}.${String(node["relname"])} is outside the extension's schema; name your own tables unqualified`, {
        relation: `${String(qualifier)}.${String(node["relname"])}`,
      });
    }
    const name = String(node["relname"]);
    // Unqualified names resolve through search_path (the install's schema, then pg_catalog): catalog relations all start with pg_.
    if (name.startsWith("pg_")) throw refused(`relation ${name} is refused: names starting with pg_ are PostgreSQL's catalogs`, { relation: name });
    if (node["relpersistence"] === "t") throw refused("temporary tables are not allowed; create tables in a migration");
  }

  private type(node: Node): void {
    const parts = names(node["names"]);
    const name = parts[parts.length - 1]!;
    if (parts.length > 2) throw refused(`type ${parts.join(".")} names too many parts`);
    if (parts.length === 2 && parts[0] !== "pg_catalog" && parts[0] !== this.options.schema) {
      throw refused(`type ${parts.join(".")} is outside the extension's schema and pg_catalog`);
    }
    // PostgreSQL names each array type after its element with a leading underscore: `_regclass` is `regclass[]`.
    const element = name.startsWith("_") ? name.slice(1) : name;
    if (REFUSED_TYPES.has(name) || REFUSED_TYPES.has(element)) {
      throw refused(`type ${name} is not allowed: it looks objects up by name, or names them by OID, in the catalogs`, { type: name });
    }
  }

  private function(parts: string[]): void {
    const name = parts[parts.length - 1]!;
    if (parts.length > 2 || (parts.length === 2 && parts[0] !== "pg_catalog")) {
      throw refused(`function ${parts.join(".")} is not allowed: call built-in functions unqualified`, { function: parts.join(".") });
    }
    const allowed = FUNCTIONS.has(name) || (this.options.interruptible && SERVER_ONLY_FUNCTIONS.has(name));
    if (!allowed) {
      throw refused(
        SERVER_ONLY_FUNCTIONS.has(name)
          ? `function ${name} is not allowed on PGlite, which cannot interrupt a statement that runs too long`
          : `function ${name} is not on the allowlist of built-ins an extension may call (see the host docs, storage-sql.md)`,
        { function: name },
      );
    }
  }

  private operator(parts: string[]): void {
    if (parts.length > 1 && (parts.length > 2 || parts[0] !== "pg_catalog")) {
      throw refused(`operator ${parts.join(".")} is not allowed: use built-in operators`, { operator: parts.join(".") });
    }
  }

  /**
   * The name of an existing object a migration changes (drops, renames,
   * comments on, alters) or names for a new sequence: the install's own
   * schema or unqualified, never a catalog's (`pg_…`). An unqualified type
   * is looked up before the statement runs (typeTargets).
   */
  private target(parts: string[], objectType: string): void {
    const column = objectType === "OBJECT_COLUMN";
    this.qualified(parts, column ? 3 : 2);
    const name = parts[parts.length - (column ? 2 : 1)] ?? "";
    if (name.startsWith("pg_")) throw refused(`${parts.join(".")} is refused: names starting with pg_ are PostgreSQL's catalogs`, { object: parts.join(".") });
    if (objectType === "OBJECT_TYPE" && parts.length === 1) this.typeTargets.push(name);
  }

  /** A possibly qualified object name: `name` or `<own schema>.name` (`table.column` counts one more part). */
  private qualified(parts: string[], maxParts: number): void {
    if (parts.length > maxParts) throw refused(`${parts.join(".")} names too many parts`);
    if (parts.length === maxParts && maxParts > 1 && parts[0] !== this.options.schema) {
      throw refused(`${parts.join(".")} is outside the extension's schema; name your own objects unqualified`, { object: parts.join(".") });
    }
  }
}
