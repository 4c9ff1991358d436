/**
 * The admin page: issues from GET /issues, one issue's events from
 * GET /issues/:id, status changes with PUT /issues/:id/status, all through
 * the bridge's api.fetch (the signed-in admin's session; this page never sees it).
 */
import { connect } from "@annex/iframe-bridge/client";
import { defineAll, type AnnexSelect, type AnnexTable } from "@annex/ui-kit";

defineAll();

interface Issue {
  id: number;
  project: string;
  title: string;
  culprit: string | null;
  level: string;
  status: string;
  first_seen: string;
  last_seen: string;
  event_count: number;
}
interface Frame {
  filename: string | null;
  module: string | null;
  function: string | null;
  lineno: number | null;
  colno: number | null;
  inApp: boolean | null;
}
interface StoredEvent {
  event_id: string;
  occurred_at: string;
  level: string;
  environment: string | null;
  release: string | null;
  message: string | null;
  exception: { type: string | null; value: string | null; frames: Frame[] } | null;
  sdk: string | null;
}

const annex = await connect({ timeoutMs: 5_000 });
const status = document.getElementById("status") as AnnexSelect;
const tbody = document.querySelector("#issues tbody")!;
const empty = document.getElementById("empty")!;
const detail = document.getElementById("detail")!;
let shown: number | null = null;

async function call<T>(path: string, init?: { method: "PUT"; body: string }): Promise<T> {
  const response = await annex.api.fetch(path, init === undefined ? undefined : { ...init, headers: { "content-type": "application/json" } });
  const body = JSON.parse(response.body as string) as T & { error?: { message: string } };
  if (response.status >= 400) throw new Error(body.error?.message ?? `status ${response.status}`);
  return body;
}

function cell(text: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

const when = (iso: string) => new Date(iso).toLocaleString(document.documentElement.lang || "en");

async function refresh(): Promise<void> {
  const query = status.value === "" ? "" : `?status=${status.value}`;
  const { issues } = await call<{ issues: Issue[] }>(`issues${query}`);
  tbody.replaceChildren(
    ...issues.map((issue) => {
      const row = document.createElement("tr");
      row.dataset.issue = String(issue.id);
      const title = cell(issue.title);
      if (issue.culprit !== null) {
        const culprit = document.createElement("div");
        culprit.className = "muted";
        culprit.textContent = issue.culprit;
        title.append(culprit);
      }
      const open = document.createElement("annex-button");
      open.setAttribute("size", "sm");
      open.setAttribute("label", `Events of ${issue.title}`);
      open.textContent = "Events";
      open.addEventListener("click", () => void show(issue.id));
      const actions = document.createElement("td");
      actions.append(open);
      row.append(title, cell(issue.project), cell(issue.level), cell(String(issue.event_count)), cell(when(issue.last_seen)), actions);
      return row;
    }),
  );
  empty.hidden = issues.length > 0;
}

function frameLine(frame: Frame): string {
  const where = [frame.module ?? frame.filename, frame.lineno, frame.colno].filter((part) => part !== null).join(":");
  return `${frame.inApp === false ? "  " : "→ "}${frame.function ?? "?"} (${where})`;
}

async function show(id: number): Promise<void> {
  const issue = await call<Issue & { events: StoredEvent[] }>(`issues/${id}`);
  shown = id;
  detail.hidden = false;
  document.getElementById("detail-title")!.textContent = issue.title;
  document.getElementById("detail-meta")!.textContent =
    `${issue.event_count} event${issue.event_count === 1 ? "" : "s"} · project ${issue.project} · ${issue.status} · first seen ${when(issue.first_seen)}`;
  const latest = issue.events[0];
  // Most recent call first, as developers read a trace.
  document.getElementById("stack")!.textContent = latest?.exception?.frames.slice().reverse().map(frameLine).join("\n") || "(no stack trace)";
  const events = document.getElementById("events") as AnnexTable;
  events.columns = [
    { key: "occurred_at", label: "When", format: (value) => when(String(value)) },
    { key: "level", label: "Level" },
    { key: "environment", label: "Environment" },
    { key: "release", label: "Release" },
    { key: "text", label: "Message" },
    { key: "sdk", label: "SDK" },
  ];
  events.rows = issue.events.map((event) => ({ ...event, text: event.exception?.value ?? event.message ?? "" }));
}

async function setStatus(next: string): Promise<void> {
  if (shown === null) return;
  await call(`issues/${shown}/status`, { method: "PUT", body: JSON.stringify({ status: next }) });
  await Promise.all([refresh(), show(shown)]);
}

status.addEventListener("change", () => void refresh());
document.getElementById("refresh")!.addEventListener("click", () => void refresh());
document.getElementById("resolve")!.addEventListener("click", () => void setStatus("resolved"));
document.getElementById("ignore")!.addEventListener("click", () => void setStatus("ignored"));
document.getElementById("reopen")!.addEventListener("click", () => void setStatus("unresolved"));
await refresh();
document.documentElement.dataset.state = "ready";
