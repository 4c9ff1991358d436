import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { annexRouter } from "../../src/adapters/express.js";
import { createNodeHandler } from "../../src/adapters/node.js";
import { makeBundle, serviceManifest } from "../support/fixtures.js";
import { gatewayWorld, type GatewayWorld, type WorldOptions } from "./support.js";
import type { TestDatabaseBackend } from "../../src/testing/index.js";

/** acme.wire: handlers answer whatever the request body (JSON) says, so any response goes through a real sandbox. */
export const WIRE_SERVER = `
export function respond(request) { return request.body; }
export function respondQuery(request) { return JSON.parse(request.query.r); }
export const pubRespond = respond;
export const pubRespondQuery = respondQuery;
`;

export const WIRE_MANIFEST = serviceManifest({
  id: "acme.wire",
  publisher: "acme",
  name: "Answers over the wire",
  endpoints: [
    { class: "api", method: "POST", path: "/respond", handler: "respond" },
    { class: "api", method: "GET", path: "/respond", handler: "respondQuery" },
    { class: "public", method: "POST", path: "/respond", handler: "pubRespond" },
    { class: "public", method: "GET", path: "/respond", handler: "pubRespondQuery" },
  ],
});

export interface WireWorld {
  world: GatewayWorld;
  nodeBase: string;
  expressBase: string;
  close(): Promise<void>;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function wireWorld(backend: TestDatabaseBackend, options: WorldOptions = {}): Promise<WireWorld> {
  const world = await gatewayWorld(backend, { resolveTenant: (request, { family }) => (family === "api" ? null : "t1"), ...options });
  await world.installFor("t1");
  const bytes = await makeBundle(WIRE_MANIFEST, { "server/index.js": WIRE_SERVER });
  await world.host.publish(bytes, await world.publisher.sign(bytes));
  await world.host.install("t1", "acme.wire", { grants: [{ name: "log" }] });
  const nodeServer = createServer(createNodeHandler(world.gateway));
  const app = express();
  app.use(annexRouter(world.gateway));
  const expressServer = createServer(app);
  const nodeBase = await listen(nodeServer);
  const expressBase = await listen(expressServer);
  return {
    world,
    nodeBase,
    expressBase,
    async close() {
      await closeServer(nodeServer);
      await closeServer(expressServer);
      await world.close();
    },
  };
}

export interface RawResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request with the path sent exactly as given. */
export function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<RawResult> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}
