// Placeholder: replaced by the manifest v2 zod schema.
export type Manifest = { id: string; version: string; publisher: string } & Record<string, unknown>;
