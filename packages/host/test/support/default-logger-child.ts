// Run by default-logger.test.ts in a child process: its stdout is what is checked.
import { writeSync } from "node:fs";
import { createHost } from "../../src/index.js";
import { defaultLogger } from "../../src/observability/logger.js";

const mode = process.argv[2];
const lines = Number(process.argv[3] ?? 200);

if (mode === "host") {
  const host = await createHost();
  for (let i = 0; i < lines; i++) host.logger.info({ n: i }, "line");
  await host.close();
  // Written straight to fd 1: every line must be out before it if close() flushed.
  writeSync(1, '{"msg":"closed"}\n');
} else if (mode === "exit-busy") {
  // Lines written in rounds with the event loop turning between them, so that a batch can be on its way
  // out when process.exit() comes: pino's asynchronous mode wrote that batch after the exit flush's lines.
  const { logger } = defaultLogger();
  let n = 0;
  while (n < lines - 100) {
    for (let i = 0; i < 100; i++) logger.info({ n: n++ }, "line");
    await new Promise((resolve) => setImmediate(resolve));
  }
  while (n < lines) logger.info({ n: n++ }, "line");
  process.exit(0);
} else if (mode === "at-once") {
  const { logger } = defaultLogger();
  for (let i = 0; i < lines; i++) logger.info({ n: i }, "line");
  // Written straight to fd 1: with every line written at once, every line is out before it.
  writeSync(1, '{"msg":"closed"}\n');
  process.exit(0);
} else {
  const { logger } = defaultLogger();
  for (let i = 0; i < lines; i++) logger.info({ n: i }, "line");
  if (mode === "exit") process.exit(0);
  if (mode === "crash") setTimeout(() => { throw new Error("crash on purpose"); }, 0);
}
