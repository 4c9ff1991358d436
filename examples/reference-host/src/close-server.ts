import type { Server } from "node:http";

/**
 * Stops the server gracefully: it accepts no new connection, the requests
 * already in it run to their answer (Annex is still open behind them), and
 * each connection is closed as soon as it is idle; whatever is still open
 * after `graceMs` is cut. `server.close()` alone would leave a kept-alive
 * connection open until its keep-alive timeout (5 s) after its last answer;
 * `closeAllConnections()` alone cuts the requests under way (the client sees
 * a reset socket, not the answer).
 */
export function closeGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 25);
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}
