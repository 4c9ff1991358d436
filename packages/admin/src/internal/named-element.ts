import { AdminError } from "../errors.js";
import { AdminElement } from "./element.js";

/**
 * An admin component that lists installs of extensions and shows each by
 * its display name: the `extensionNames` property (display names by
 * extension id, copied in and out) and `nameOf`, the name or the id.
 */
export abstract class ExtensionNamesElement extends AdminElement {
  #names: Record<string, string> = {};

  get extensionNames(): Record<string, string> {
    return { ...this.#names };
  }
  set extensionNames(value: Record<string, string>) {
    this.#names = { ...value };
    this.render();
  }

  /** The extension's display name, or its id when the host gave none. */
  protected nameOf(extensionId: string): string {
    return (Object.hasOwn(this.#names, extensionId) ? this.#names[extensionId] : undefined) ?? extensionId;
  }
}

/**
 * A list property's new value, checked item by item (each `check` throws
 * E_ADMIN_INVALID_DATA naming `field[index]`) and copied, so that a caller
 * changing its array afterwards does not change what the component shows.
 */
export function checkedList<T>(value: unknown, field: string, what: string, check: (item: unknown, index: number) => void): T[] {
  if (!Array.isArray(value)) throw new AdminError("E_ADMIN_INVALID_DATA", `${field} must be an array of ${what}`, { field });
  value.forEach(check);
  return [...value] as T[];
}
