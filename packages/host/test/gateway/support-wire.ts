import { createServer } from "node:http";
import express from "express";
import { annexRouter } from "../../src/adapters/express.js";
import { createNodeHandler } from "../../src/adapters/node.js";
import { close as closeServer, listen } from "../adapters/servers.js";
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
