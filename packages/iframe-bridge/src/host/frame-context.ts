import type { ExtensionContext, HostContext } from "../context.js";
import type { BridgeCapability } from "../grants.js";
import type { Theme } from "../theme.js";

/**
 * The context a frame is shown: the host's context with the current theme,
 * and the signed-in user only when the install was granted `user.read`.
 * Built from scratch (no spread of the host's object), so a field added to
 * HostContext later reaches frames only once it is listed here.
 */
export function frameContext(context: HostContext, grants: ReadonlySet<BridgeCapability>, theme: Theme): ExtensionContext {
  const visible: ExtensionContext = {
    tenant: context.tenant,
    locale: context.locale,
    theme,
    extension: { id: context.extension.id, version: context.extension.version },
  };
  // The install's own settings: the extension's admin set them for it, so every page of it may read them.
  if (context.config !== undefined) visible.config = { ...context.config };
  const user = context.user;
  if (user !== undefined && grants.has("user.read")) {
    visible.user = {
      id: user.id,
      ...(user.displayName === undefined ? {} : { displayName: user.displayName }),
      ...(user.email === undefined ? {} : { email: user.email }),
    };
  }
  return visible;
}
