export function run(_request, ctx) {
  const line = "flood ".repeat(200);
  for (let i = 0; i < 100000; i++) ctx.log.info(line);
  return { status: 200, body: { flooded: true } };
}
