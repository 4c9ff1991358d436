/**
 * The dashboard's widgets: each "dashboard.widget" page of the tenant's
 * serving installs, mounted with mountInstallFrame of @annex/admin in its
 * own sandboxed frame, through the bridge like every extension page (the
 * product's theme tokens, the user only with user.read, toast only with
 * ui.toast). One widget that fails to start says so in its card; the others
 * are not affected.
 */
import { mountInstallFrame, type AdminInstall } from "@annex/admin";
import type { Manifest } from "@annex/manifest";
import { applyTheme, type Theme } from "@annex/ui-kit";

interface PageData {
  theme: Theme;
  widgets: { install: AdminInstall; manifest: Manifest; page: { slot: "dashboard.widget"; path: string }; title: string }[];
  user: { id: string; displayName?: string; email?: string };
}

const data = JSON.parse(document.getElementById("page-data")!.textContent!) as PageData;
applyTheme(data.theme);
const toast = document.getElementById("toast")!;

const started = data.widgets.map(async (widget, index) => {
  const container = document.getElementById(`widget-${index}`)!;
  try {
    const frame = mountInstallFrame({
      container,
      install: widget.install,
      manifest: widget.manifest,
      page: widget.page,
      user: data.user,
      theme: data.theme,
      // A widget is small: it grows with resize() up to a bound the product chooses.
      minHeight: 96,
      maxHeight: 480,
      hostApi: { toast: ({ message }) => void (toast.textContent = message) },
    });
    await frame.ready;
    container.dataset["frame"] = "ready";
  } catch (error) {
    container.dataset["frame"] = "failed";
    container.textContent = `This widget could not start: ${error instanceof Error ? error.message : String(error)}`;
  }
});
await Promise.all(started);
document.body.dataset["widgets"] = "ready";
