/**
 * What an extension's SQL may contain. Everything not listed here is refused:
 * a new PostgreSQL release adds statement kinds, functions and settings, and
 * none of them reaches an extension until someone reads it and adds it here.
 */

/** Statements `ctx.sql.query` may run (one per call). */
export const QUERY_STATEMENTS: ReadonlySet<string> = new Set(["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "TruncateStmt"]);

/** Statements a bundle's migrations may run, on top of the query statements. */
export const MIGRATION_STATEMENTS: ReadonlySet<string> = new Set([
  ...QUERY_STATEMENTS,
  "CreateStmt",
  "IndexStmt",
  "AlterTableStmt",
  "DropStmt",
  "ViewStmt",
  "CreateSeqStmt",
  "AlterSeqStmt",
  "RenameStmt",
  "CommentStmt",
  "CreateEnumStmt",
  "AlterEnumStmt",
  "CompositeTypeStmt",
]);

/** Statements that may appear inside another (subqueries, CTEs, INSERT … SELECT, view bodies). */
export const NESTED_STATEMENTS: ReadonlySet<string> = new Set(["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);

/** ALTER TABLE subcommands of migrations: shape changes only (no owner, tablespace, triggers, rules, row security). */
export const ALTER_TABLE_COMMANDS: ReadonlySet<string> = new Set([
  "AT_AddColumn",
  "AT_ColumnDefault",
  "AT_DropNotNull",
  "AT_SetNotNull",
  "AT_DropColumn",
  "AT_AddConstraint",
  "AT_DropConstraint",
  "AT_ValidateConstraint",
  "AT_AlterColumnType",
  "AT_AddIdentity",
  "AT_SetIdentity",
  "AT_DropIdentity",
  "AT_SetStatistics",
]);

export const DROP_OBJECTS: ReadonlySet<string> = new Set(["OBJECT_TABLE", "OBJECT_INDEX", "OBJECT_VIEW", "OBJECT_SEQUENCE", "OBJECT_TYPE"]);

export const RENAME_OBJECTS: ReadonlySet<string> = new Set([
  "OBJECT_TABLE",
  "OBJECT_COLUMN",
  "OBJECT_INDEX",
  "OBJECT_VIEW",
  "OBJECT_SEQUENCE",
  "OBJECT_TABCONSTRAINT",
  "OBJECT_TYPE",
  "OBJECT_ATTRIBUTE",
]);

export const COMMENT_OBJECTS: ReadonlySet<string> = new Set(["OBJECT_TABLE", "OBJECT_COLUMN", "OBJECT_INDEX", "OBJECT_VIEW", "OBJECT_SEQUENCE", "OBJECT_TYPE"]);

export const INDEX_METHODS: ReadonlySet<string> = new Set(["btree", "hash", "gin", "gist", "brin", "spgist"]);

/**
 * Built-in functions an extension may call, unqualified or as `pg_catalog.…`:
 * pure computations over the values a statement already has. Left out on
 * purpose: anything that reads files, starts programs, changes settings or
 * identity, takes session-level locks, sleeps, names another relation in a
 * string (`nextval('…')`, `to_regclass`, `pg_relation_size`), runs SQL given
 * as text (`query_to_xml`), or allocates without bound from a small input
 * (`repeat`, `lpad`, `rpad`, `array_fill`, `jsonb_pretty`: its indentation
 * grows with the square of the nesting, 4 KB of brackets made 16 MB in 5.8 s
 * on PGlite), or works with the square of a value's size (`gcd`, `lcm`: of two
 * random 100,000-digit numerics, 74 s on PGlite, where the planner also folds
 * the call while the guard's EXPLAIN prices it; the numeric loop does not look
 * at PostgreSQL's cancel requests either). `format` is allowed only with a literal format string without
 * widths (growth.ts); the functions of GROWING_FUNCTIONS only under the
 * nesting rule of growth.ts.
 */
export const FUNCTIONS: ReadonlySet<string> = new Set([
  // numbers
  "abs", "ceil", "ceiling", "floor", "round", "trunc", "sign", "sqrt", "cbrt", "power", "pow", "exp", "ln", "log", "log10",
  "mod", "div", "pi", "degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "width_bucket",
  "random", "scale", "trim_scale", "numeric", "int4", "int8", "float8", "text",
  // text
  "length", "char_length", "character_length", "octet_length", "bit_length", "lower", "upper", "initcap", "btrim", "ltrim",
  "rtrim", "substr", "substring", "left", "right", "replace", "split_part", "strpos", "position", "concat", "concat_ws",
  "format", "reverse", "starts_with", "md5", "sha224", "sha256", "sha384", "sha512", "encode", "decode", "to_hex", "ascii", "chr", "translate",
  "regexp_replace", "regexp_match", "regexp_matches", "regexp_split_to_array", "regexp_split_to_table", "regexp_like",
  "regexp_count", "regexp_substr", "regexp_instr", "quote_ident", "quote_literal", "quote_nullable", "string_to_array",
  "array_to_string", "overlay", "normalize", "like_escape", "similar_to_escape", "to_char", "to_number", "to_date", "to_timestamp",
  // date and time
  "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "date_trunc", "date_part", "extract", "age",
  "make_date", "make_time", "make_timestamp", "make_timestamptz", "make_interval", "date_bin", "justify_days",
  "justify_hours", "justify_interval", "isfinite", "timezone",
  // aggregates
  "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "array_agg", "string_agg", "json_agg", "jsonb_agg",
  "json_object_agg", "jsonb_object_agg", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
  "percentile_cont", "percentile_disc", "mode", "corr", "covar_pop", "covar_samp", "bit_and", "bit_or",
  // window
  "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
  // json
  "to_json", "to_jsonb", "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array", "jsonb_set",
  "jsonb_insert", "jsonb_strip_nulls", "json_strip_nulls", "json_array_length", "jsonb_array_length", "json_each",
  "jsonb_each", "json_each_text", "jsonb_each_text", "json_object_keys", "jsonb_object_keys", "json_array_elements",
  "jsonb_array_elements", "json_array_elements_text", "jsonb_array_elements_text", "json_typeof", "jsonb_typeof",
  "jsonb_path_query", "jsonb_path_exists", "jsonb_path_match", "jsonb_path_query_array", "jsonb_path_query_first",
  "row_to_json", "json_extract_path", "jsonb_extract_path", "json_extract_path_text", "jsonb_extract_path_text",
  "jsonb_to_record", "jsonb_to_recordset", "json_to_record", "json_to_recordset",
  // arrays
  "array_length", "array_upper", "array_lower", "cardinality", "array_append", "array_prepend", "array_cat", "array_remove",
  "array_replace", "array_position", "array_positions", "unnest", "array_dims", "trim_array",
  // misc
  "gen_random_uuid", "num_nonnulls", "num_nulls",
  // text search
  "to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery", "ts_rank", "ts_rank_cd",
  "setweight",
]);

/**
 * Functions allowed on PostgreSQL only. PGlite cannot interrupt a running
 * statement (its engine ignores statement_timeout), and these make unbounded
 * work out of a small statement whose size its planner cannot estimate:
 * `generate_series` rows from two numbers; `ts_headline` a cost several times
 * reading its document, whatever its query (on PGlite, a megabyte of words
 * that all match and a 2-word query: 0.85 s and 0.9 MB out with
 * `MaxFragments=1000`; a 256-character query: out of memory after 1.5-2 s; a
 * 50,000-word text and an 800-term phrase: 13.7 s through an install), all on
 * the host's one thread.
 */
export const SERVER_ONLY_FUNCTIONS: ReadonlySet<string> = new Set(["generate_series", "ts_headline"]);

/**
 * The allowlisted functions that return a set of rows (`proretset` in
 * pg_proc; a test checks this list against the catalog). The planner guesses
 * their row counts (100 or 1,000, whatever the input), so on PGlite a plan
 * may read one of them at most and its cost is scaled by its input's size
 * (plan-bounds.ts).
 */
export const SET_RETURNING_FUNCTIONS: ReadonlySet<string> = new Set([
  "json_each", "jsonb_each", "json_each_text", "jsonb_each_text", "json_object_keys", "jsonb_object_keys",
  "json_array_elements", "jsonb_array_elements", "json_array_elements_text", "jsonb_array_elements_text",
  "jsonb_path_query", "json_to_recordset", "jsonb_to_recordset", "unnest", "regexp_matches", "regexp_split_to_table",
]);

/**
 * Types that turn a string into a catalog lookup (`'annex_installs'::regclass`)
 * or an OID into a name (`'{10}'::_regrole`, `aclitem`'s role names), or parse
 * untrusted documents. Element names: the guard refuses each one's array type
 * too (`_regclass`, PostgreSQL's name for `regclass[]`), and a test checks this
 * list against pg_type (every type whose input or output reads the catalogs).
 */
export const REFUSED_TYPES: ReadonlySet<string> = new Set([
  "regclass", "regproc", "regprocedure", "regoper", "regoperator", "regtype", "regconfig", "regdictionary",
  "regnamespace", "regrole", "regcollation", "aclitem", "xml", "pg_node_tree", "pg_ndistinct", "pg_dependencies", "pg_mcv_list",
]);

/**
 * The SQL keywords that read a value of the session (`SQLValueFunction`
 * nodes) an extension may use: the clock; its own schema (`current_schema`);
 * `current_user` and its synonyms `current_role` and `user`, which name the
 * install's own role on PostgreSQL (the schema's name) and PGlite's fixed
 * `postgres`. Left out: `session_user` (the host's login user, whatever the
 * role) and `current_catalog` (the database's name). The functions that say
 * the same (`current_database()`, `inet_server_addr()`, `version()` …) are
 * not on the function allowlist.
 */
export const SQL_VALUE_FUNCTIONS: ReadonlySet<string> = new Set([
  "SVFOP_CURRENT_DATE", "SVFOP_CURRENT_TIME", "SVFOP_CURRENT_TIME_N", "SVFOP_CURRENT_TIMESTAMP", "SVFOP_CURRENT_TIMESTAMP_N",
  "SVFOP_LOCALTIME", "SVFOP_LOCALTIME_N", "SVFOP_LOCALTIMESTAMP", "SVFOP_LOCALTIMESTAMP_N", "SVFOP_CURRENT_SCHEMA",
  "SVFOP_CURRENT_USER", "SVFOP_CURRENT_ROLE", "SVFOP_USER",
]);

/**
 * Allowlisted functions whose result can be far larger than their arguments:
 * a product of two of them (`replace(s, from, to)`: every `from` in `s`
 * becomes `to`; `regexp_replace` likewise, back-references included;
 * `array_replace`: every match becomes the third argument;
 * `array_to_string`: the delimiter once per element), or of a value and the
 * rows it is read for (the aggregates below). growth.ts lets a statement
 * multiply once: none of these may take another's result as input.
 * Not here, because their result is at most a fixed multiple of their input:
 * `translate` (one character for one), `overlay` (the sum of its two texts),
 * `concat`, `||`, `format` without widths (each repetition of a value costs
 * characters of the statement), `encode`, `quote_*`, `upper`, `normalize`,
 * `to_json`; growth.ts still keeps those in one query level and escapes once,
 * since a fixed multiple applied again per level or per nested call doubles.
 */
export const GROWING_FUNCTIONS: ReadonlySet<string> = new Set([
  "replace", "regexp_replace", "array_replace", "array_to_string", "ts_headline",
  "string_agg", "array_agg", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg",
]);
