import { focusRing } from "./styles.js";
import { v } from "../theme/vars.js";

/** Layout and colours shared by the labelled controls (input, select). */
export const fieldStyles = `
:host { display: block; }
.field { display: flex; flex-direction: column; gap: ${v("space-1")}; }
label {
  font-size: ${v("font-size-sm")}; font-weight: ${v("font-weight-medium")};
  color: ${v("color-text")}; line-height: ${v("line-height-tight")};
}
.required { color: ${v("color-danger-text")}; margin-inline-start: 0.15em; }
.control {
  width: 100%; min-height: ${v("control-height")}; margin: 0; padding: 0 ${v("space-3")};
  font: inherit; font-size: ${v("font-size-md")}; line-height: ${v("line-height-tight")};
  color: ${v("color-text")}; background: ${v("color-surface")};
  border: 1px solid ${v("color-border-strong")}; border-radius: ${v("radius-md")};
  transition: border-color ${v("duration")};
}
.control::placeholder { color: ${v("color-text-muted")}; opacity: 1; }
.control:focus-visible { ${focusRing} }
.control[aria-invalid="true"] { border-color: ${v("color-danger")}; }
.control:disabled { opacity: 0.55; cursor: not-allowed; }
.hint, .error { margin: 0; font-size: ${v("font-size-sm")}; line-height: ${v("line-height")}; }
.hint { color: ${v("color-text-muted")}; }
.error { color: ${v("color-danger-text")}; font-weight: ${v("font-weight-medium")}; }
.hint:empty, .error:empty { display: none; }
`;

export const fieldTemplate = (control: string) =>
  `<div class="field"><label id="label" for="control" part="label"><span id="label-text"></span><span class="required" id="required" aria-hidden="true" hidden>*</span></label>${control}<p class="hint" id="hint" part="hint"></p><p class="error" id="error" part="error"></p></div>`;

/**
 * Writes label, hint and error text and wires aria-describedby/aria-invalid
 * so a screen reader reads the hint and the error with the control.
 */
export function renderField(
  parts: { labelText: HTMLElement; required: HTMLElement; hint: HTMLElement; error: HTMLElement; control: HTMLElement },
  state: { label: string; hint: string; error: string; required: boolean },
): void {
  parts.labelText.textContent = state.label;
  parts.required.hidden = !state.required;
  parts.hint.textContent = state.hint;
  parts.error.textContent = state.error;
  const describedBy = [state.error ? "error" : "", state.hint ? "hint" : ""].filter(Boolean).join(" ");
  if (describedBy) parts.control.setAttribute("aria-describedby", describedBy);
  else parts.control.removeAttribute("aria-describedby");
  if (state.error) parts.control.setAttribute("aria-invalid", "true");
  else parts.control.removeAttribute("aria-invalid");
}
