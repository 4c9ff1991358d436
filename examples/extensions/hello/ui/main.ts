/**
 * The page's script. `annex pack` bundles it, with @annex/ui-kit and
 * @annex/iframe-bridge, into ui/main.js: the page loads nothing from
 * node_modules and runs no inline code, as the frame's CSP requires.
 */
import { connect } from "@annex/iframe-bridge/client";
import { defineAll, type AnnexInput } from "@annex/ui-kit";

defineAll();

const form = document.getElementById("greet") as HTMLFormElement;
const input = document.getElementById("name") as AnnexInput;
const answer = document.getElementById("answer") as HTMLParagraphElement;

// Applies the host's theme and hands over the scoped API: api.fetch reaches only /api/ext/acme.hello/….
const annex = await connect({ timeoutMs: 5_000 });

form.addEventListener("submit", (event) => {
  event.preventDefault();
  void (async () => {
    const response = await annex.api.fetch(`hello/${encodeURIComponent(input.value.trim())}`);
    const body = JSON.parse(response.body as string) as { message?: string; error?: { message: string } };
    answer.textContent = body.message ?? body.error?.message ?? `status ${response.status}`;
  })();
});
