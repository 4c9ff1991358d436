/**
 * ElementInternals where the browser has it (Chromium, Firefox, Safari 16.4+),
 * so the control takes part in <form> submission, reset and validation.
 * happy-dom and old engines lack it: the control still works, it just does not
 * contribute to FormData (documented in the README).
 */
export function attachFormInternals(element: HTMLElement): ElementInternals | undefined {
  if (typeof element.attachInternals !== "function") return undefined;
  try {
    return element.attachInternals();
  } catch {
    return undefined;
  }
}

/** The form a control belongs to: its internals' form when known, else its closest <form> ancestor. */
export function owningForm(element: HTMLElement, internals: ElementInternals | undefined): HTMLFormElement | null {
  return internals?.form ?? element.closest("form");
}

/** Copies a native control's validity into the host's internals, anchored on the native control. */
export function mirrorValidity(
  internals: ElementInternals | undefined,
  control: HTMLInputElement | HTMLSelectElement,
  customError: string | null,
): void {
  if (internals === undefined || typeof internals.setValidity !== "function") return;
  if (customError) {
    internals.setValidity({ customError: true }, customError, control);
    return;
  }
  const validity = control.validity;
  if (validity.valid) {
    internals.setValidity({});
    return;
  }
  const flags: ValidityStateFlags = {};
  for (const key of [
    "valueMissing",
    "typeMismatch",
    "patternMismatch",
    "tooLong",
    "tooShort",
    "rangeUnderflow",
    "rangeOverflow",
    "stepMismatch",
    "badInput",
    "customError",
  ] as const) {
    if (validity[key]) flags[key] = true;
  }
  internals.setValidity(flags, control.validationMessage || "Invalid value", control);
}
