// server/index.js
export async function add(request, ctx) {
  const { rows } = await ctx.sql.query("INSERT INTO notes (id, body) VALUES ($1, $2) RETURNING id, created_at", [request.body.id, request.body.body]);
  return { note: rows[0] };
}
export async function get(request, ctx) {
  // request.params.id is string | undefined to TypeScript (src/server.ts of `annex init`): say which.
  const { rows } = await ctx.sql.query("SELECT id, body FROM notes WHERE id = $1", [request.params.id ?? null]);
  return rows[0] === undefined ? { status: 404 } : { note: rows[0] };
}
