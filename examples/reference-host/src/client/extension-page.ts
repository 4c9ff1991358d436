/**
 * An extension's page inside the product's layout: mountInstallFrame of
 * @annex/admin puts the install's page in a sandboxed frame and hands it,
 * over the bridge, the product's theme tokens, the locale and (only with
 * the install's user.read grant, enforced by the bridge) the signed-in user.
 */
import { mountInstallFrame, type AdminInstall } from "@annex/admin";
import type { Manifest, UiSlot } from "@annex/manifest";
import { applyTheme, type Theme } from "@annex/ui-kit";

interface PageData {
  theme: Theme;
  install: AdminInstall;
  manifest: Manifest;
  page: { slot: UiSlot; path: string };
  user: { id: string; displayName?: string; email?: string } | null;
  /** Set on public pages: the frame's api.fetch goes to the public family of that tenant. */
  publicTenant: string | null;
}

const data = JSON.parse(document.getElementById("page-data")!.textContent!) as PageData;
applyTheme(data.theme);
const toast = document.getElementById("toast")!;

function publicUrl(url: string, tenant: string): string {
  const parsed = new URL(url, location.origin);
  const prefix = `/api/ext/${data.install.extensionId}/`;
  if (!parsed.pathname.startsWith(prefix)) throw new Error("outside the extension's API");
  parsed.pathname = `/ext/${data.install.extensionId}/public/${parsed.pathname.slice(prefix.length)}`;
  parsed.searchParams.set("tenant", tenant);
  return parsed.toString();
}

const frame = mountInstallFrame({
  container: document.getElementById("extension-frame")!,
  install: data.install,
  manifest: data.manifest,
  page: data.page,
  user: data.user ?? undefined,
  theme: data.theme,
  hostApi: {
    // On a public page nobody is signed in: the bridge scopes api.fetch to /api/ext/{id}/…, and the host
    // sends it on to the same path of the public family, /ext/{id}/public/…, naming the tenant.
    ...(data.publicTenant === null ? {} : { fetch: (url: string, init: RequestInit) => fetch(publicUrl(url, data.publicTenant!), { ...init, credentials: "omit" }) }),
    // Called only when the install was granted ui.toast.
    toast: ({ message }) => {
      toast.textContent = message;
    },
  },
});
frame.ready.then(
  () => (document.body.dataset["frame"] = "ready"),
  (error: unknown) => {
    document.body.dataset["frame"] = "failed";
    toast.textContent = `The extension's page could not start: ${error instanceof Error ? error.message : String(error)}`;
  },
);
