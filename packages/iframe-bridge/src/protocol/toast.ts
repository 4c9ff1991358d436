import * as z from "zod/mini";

export type ToastKind = "info" | "success" | "warning" | "error";

export interface Toast {
  kind: ToastKind;
  message: string;
}

/** The host renders the message as text; it is still bounded and free of control characters. */
export const toastSchema = z.strictObject({
  kind: z.enum(["info", "success", "warning", "error"], 'kind must be "info", "success", "warning" or "error"'),
  message: z.string().check(
    z.minLength(1, "message must not be empty"),
    z.maxLength(500, "message must be at most 500 characters"),
    z.refine((value) => !/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(value), "message must not contain control characters (C0 but tab and line feed, DEL, C1)"),
    // Bidirectional overrides and isolates make "Invoice paid \u202Egnp.exe" read as "Invoice paid exe.png".
    z.refine((value) => !/[\u202a-\u202e\u2066-\u2069]/.test(value), "message must not contain bidirectional override or isolate characters (U+202A-U+202E, U+2066-U+2069)"),
  ),
});
