/** How the admin API answers Annex's typed errors: the status each code means, never the text of an unknown error. */
import type { AddressInfo } from "node:net";
import { HostClosedError, InstallError } from "@annex/host";
import express from "express";
import { expect, it } from "vitest";
import { sendError } from "../src/admin/errors.js";

async function answerFor(error: unknown): Promise<Response> {
  const app = express();
  app.get("/", (_req, res) => {
    if (!sendError(res, error)) res.status(500).json({ code: "E_INTERNAL" });
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  try {
    return await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  } finally {
    server.close();
  }
}

it("answers a host shutting down with 503 and Retry-After, so that a client or a load balancer retries", async () => {
  const answer = await answerFor(new HostClosedError("install"));
  expect(answer.status).toBe(503);
  expect(answer.headers.get("retry-after")).toBe("1");
  expect(await answer.json()).toMatchObject({ code: "E_HOST_CLOSED", details: { method: "install" } });
});

it("answers other typed errors with their own status, without Retry-After", async () => {
  const answer = await answerFor(new InstallError("E_INSTALL_NOT_FOUND", "acme.hello is not installed", { extensionId: "acme.hello" }));
  expect(answer.status).toBe(404);
  expect(answer.headers.get("retry-after")).toBeNull();
  expect(await answer.json()).toMatchObject({ code: "E_INSTALL_NOT_FOUND" });
});
