/**
 * Hello 1.1.0's page: 1.0.0's, plus a toast in the host's notifications
 * after each greeting. That needs `ui.toast`, which 1.0.0 did not ask for:
 * the bridge refuses the call unless the install was granted it, so an
 * install moves to 1.1.0 only after an admin consents again.
 */
import { connect } from "@annex/iframe-bridge/client";
import { defineAll, type AnnexInput } from "@annex/ui-kit";

defineAll();

const form = document.getElementById("greet") as HTMLFormElement;
const input = document.getElementById("name") as AnnexInput;
const answer = document.getElementById("answer") as HTMLParagraphElement;

const annex = await connect({ timeoutMs: 5_000 });

async function greet(): Promise<void> {
  const response = await annex.api.fetch(`hello/${encodeURIComponent(input.value.trim())}`);
  const body = JSON.parse(response.body as string) as { message?: string; error?: { message: string } };
  answer.textContent = body.message ?? body.error?.message ?? `status ${response.status}`;
  if (body.message !== undefined) await annex.toast({ kind: "success", message: `Said "${body.message}"` });
}

form.addEventListener("submit", (event) => event.preventDefault());
document.getElementById("say")!.addEventListener("click", () => void greet());
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    void greet();
  }
});
