/**
 * The page's script: `annex pack` bundles it (with @annex/ui-kit and
 * @annex/iframe-bridge) into ui/main.js, so the page loads nothing from
 * node_modules and runs no inline code, as the frame's security policy requires.
 */
import { connect } from "@annex/iframe-bridge/client";
import { defineAll, type AnnexInput } from "@annex/ui-kit";

defineAll();

const form = document.getElementById("greet") as HTMLFormElement;
const input = document.getElementById("name") as AnnexInput;
const answer = document.getElementById("answer") as HTMLParagraphElement;

// Applies the host's theme and hands over the scoped API: api.fetch reaches only /api/ext/acme.hello/….
const annex = await connect({ timeoutMs: 5_000 });

async function greet(): Promise<void> {
  const response = await annex.api.fetch(`hello/${encodeURIComponent(input.value.trim())}`);
  const body = JSON.parse(response.body as string) as { message?: string; error?: { message: string } };
  answer.textContent = body.message ?? body.error?.message ?? `status ${response.status}`;
}

// The frame is sandboxed without allow-forms (the iframe's sandbox and the CSP the host serves the page
// with), so the browser never submits a form here, nor fires its submit event: the button and Enter act.
form.addEventListener("submit", (event) => event.preventDefault());
document.getElementById("say")!.addEventListener("click", () => void greet());
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    void greet();
  }
});
