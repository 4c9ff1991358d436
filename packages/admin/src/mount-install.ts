import { buildExtUiSrc, mountExtensionFrame, type ConfigValues, type ContextUser, type ExtensionFrame, type MountOptions } from "@annex/iframe-bridge/host";
import type { Manifest, UiSlot } from "@annex/manifest";
import { AdminError } from "./errors.js";
import type { AdminInstall } from "./types.js";

export type ExtensionPage = Manifest["ui"]["pages"][number];

/** The pages of a manifest, optionally of one slot (`app`, `admin`, `settings`, …): menu entries for a host's layout. */
export function extensionPages(manifest: Manifest, slot?: UiSlot): ExtensionPage[] {
  return manifest.ui.pages.filter((page) => slot === undefined || page.slot === slot);
}

export interface MountInstallOptions extends Omit<MountOptions, "src" | "title" | "context" | "grants" | "extensionOrigin"> {
  /** The install to show (`InstallInfo` of @annex/host): its content hash, version, tenant and grants are used. */
  install: Pick<AdminInstall, "extensionId" | "version" | "contentHash" | "tenant" | "grants" | "state"> & Partial<Pick<AdminInstall, "config">>;
  /** The manifest of the installed version (`PublishedVersion.manifest`). */
  manifest: Manifest;
  /** Which page: by slot and/or path; default the first page of slot "app", else the first page. */
  page?: { slot?: UiSlot; path?: string } | undefined;
  /** Where the host serves `/ext-ui/…` (origin and optional path prefix); default: this page's origin. */
  base?: string | undefined;
  /** The signed-in user; the frame sees it only when the install was granted `user.read`. */
  user?: ContextUser | undefined;
  /** BCP 47 tag; default the document's `lang`, else "en". */
  locale?: string | undefined;
  /** Default "opaque" (the recommended sandbox); the exact origin serving pages when sandboxExtras has allow-same-origin. */
  extensionOrigin?: MountOptions["extensionOrigin"] | undefined;
}

/** Install states whose pages may be shown: the version in `install` serves. */
const SERVING = new Set(["active", "upgrading"]);

/**
 * Mounts a page of an install in a sandboxed frame through the host side of
 * @annex/iframe-bridge, with what the install says: the frame's src from its
 * extension id and content hash, its title from the manifest, the context
 * for its tenant and version, and its grants, which the bridge enforces
 * (`ui.toast`, `user.read`). Returns the bridge's ExtensionFrame.
 *
 * Throws E_ADMIN_NOT_MOUNTABLE for an install that does not serve (disabled,
 * failed, …), a manifest of another extension or version, or a page that the
 * manifest does not have; the bridge's own errors (E_BRIDGE_*) pass through.
 */
export function mountInstallFrame(options: MountInstallOptions): ExtensionFrame {
  const { install, manifest, page: wanted, base, user, locale, extensionOrigin, ...rest } = options;
  if (typeof install !== "object" || install === null || typeof manifest !== "object" || manifest === null) {
    throw new AdminError("E_ADMIN_INVALID_DATA", "mountInstallFrame needs { install, manifest }: an InstallInfo and the manifest of its version", { field: "install" });
  }
  if (!SERVING.has(install.state)) {
    throw new AdminError("E_ADMIN_NOT_MOUNTABLE", `${install.extensionId} is ${install.state} for this tenant; only an active install's pages are shown (enable it first)`, {
      extensionId: install.extensionId,
      state: install.state,
    });
  }
  if (manifest.id !== install.extensionId || manifest.version !== install.version) {
    throw new AdminError("E_ADMIN_NOT_MOUNTABLE", `the manifest is ${manifest.id}@${manifest.version} but the install serves ${install.extensionId}@${install.version}; pass the manifest of the installed version`, {
      extensionId: install.extensionId,
    });
  }
  const pages = manifest.ui.pages;
  const page =
    wanted === undefined
      ? (pages.find((candidate) => candidate.slot === "app") ?? pages[0])
      : pages.find((candidate) => (wanted.slot === undefined || candidate.slot === wanted.slot) && (wanted.path === undefined || candidate.path === wanted.path));
  if (page === undefined) {
    throw new AdminError("E_ADMIN_NOT_MOUNTABLE", `${manifest.id}@${manifest.version} has no UI page${wanted === undefined ? "" : ` for ${JSON.stringify(wanted)}`}; its pages are ${pages.map((p) => `${p.slot} ${p.path}`).join(", ") || "none"}`, {
      extensionId: install.extensionId,
    });
  }
  const doc = options.container?.ownerDocument;
  const origin = base ?? doc?.defaultView?.location.origin;
  if (origin === undefined) throw new AdminError("E_ADMIN_INVALID_DATA", "container must be an element attached to a document", { field: "container" });
  const src = buildExtUiSrc({ base: origin, extensionId: install.extensionId, contentHash: install.contentHash, path: page.entry });
  return mountExtensionFrame({
    ...rest,
    src,
    extensionOrigin: extensionOrigin ?? "opaque",
    title: `${manifest.name}: ${page.title}`,
    grants: install.grants,
    context: {
      tenant: install.tenant,
      ...(user === undefined ? {} : { user }),
      locale: locale ?? (doc?.documentElement.lang || "en"),
      extension: { id: install.extensionId, version: install.version },
      // The install's settings reach its pages: a bundle-class extension has no other way to read them.
      ...(install.config === undefined ? {} : { config: install.config as ConfigValues }),
    },
  });
}
