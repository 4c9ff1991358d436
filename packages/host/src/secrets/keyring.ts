import { createHash, timingSafeEqual } from "node:crypto";
import { sql, type Kysely } from "kysely";
import { SecretsError } from "./errors.js";
import { kindOf } from "../value-kind.js";

/** A host key for secrets at rest: AES-256, so 32 bytes (raw, or base64 of them). */
export interface SecretsKey {
  /** Stored beside every ciphertext, so old rows stay readable after a rotation. */
  id: string;
  key: Uint8Array | string;
}

export interface SecretsKeyringOptions {
  keys: SecretsKey[];
  /** Id of the key new secrets are encrypted with; default: the first of `keys`. */
  current?: string | undefined;
}

export interface SealedSecret {
  keyId: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/**
 * AES-256-GCM with a fresh 96-bit nonce per value. The additional data binds a
 * ciphertext to its install and secret name, so a row copied to another
 * install (or renamed) fails to decrypt instead of leaking across tenants.
 */
export class SecretsKeyring {
  readonly #keys = new Map<string, Promise<CryptoKey>>();
  /** sha256 of each key's material: the CryptoKeys are not extractable, and an id must never change meaning. */
  readonly #fingerprints = new Map<string, Buffer>();
  #current: string | undefined;
  /** The advisory lock sealing writers share and a key switch takes alone (see guardSwitches); undefined: the current key never changes. */
  #switchLock: string | undefined;
  /** The rotation running in this process, which the next one waits for. */
  #rotation: Promise<unknown> = Promise.resolve();

  constructor(options?: SecretsKeyringOptions) {
    // null stays "no key", as it always was; a string or an array is a key where { keys } belongs.
    if (options !== undefined && options !== null && (typeof options !== "object" || Array.isArray(options))) {
      throw new SecretsError(
        "E_SECRETS_KEY_INVALID",
        `createHost({ secrets }): secrets must be { keys: [{ id, key }], current? }, got ${kindOf(options)}; pass { id, key } objects, e.g. secrets: { keys: [{ id: "2026-01", key: process.env.ANNEX_SECRETS_KEY }] }`,
        { field: "secrets" },
      );
    }
    const keys: unknown = options?.keys ?? [];
    if (!Array.isArray(keys)) {
      throw new SecretsError(
        "E_SECRETS_KEY_INVALID",
        `createHost({ secrets: { keys } }): keys must be an array of { id, key } objects, got ${kindOf(keys)}; pass { id, key } objects, e.g. keys: [{ id: "2026-01", key: process.env.ANNEX_SECRETS_KEY }] (the id is stored beside each ciphertext)`,
        { field: "secrets.keys" },
      );
    }
    for (const key of keys as SecretsKey[]) this.add(key);
    if (options?.current !== undefined) this.use(options.current);
  }

  /**
   * Makes the current key switchable while the host runs (rotateSecretsKey):
   * writers then call `sealing(trx)` before they seal, and `switchTo` waits
   * for them. `schema` names the lock, so hosts on other schemas of one
   * database do not wait for each other.
   */
  guardSwitches(schema: string | undefined): void {
    this.#switchLock = `annex_secrets_key:${schema ?? ""}`;
  }

  /**
   * Call in a writer's transaction before sealing with the current key: until
   * that transaction ends, the key cannot switch (a shared advisory lock). So
   * a row is either committed before a switch, where the re-seal that follows
   * sees it, or sealed with the new key; never sealed with the old key and
   * committed behind the re-seal's back.
   */
  async sealing(trx: Kysely<any>): Promise<void> {
    if (this.#switchLock === undefined) return;
    await sql`SELECT pg_advisory_xact_lock_shared(hashtext(${this.#switchLock}))`.execute(trx);
  }

  /**
   * Makes `keyId` current once no writer is between sealing and commit (the
   * advisory lock of `sealing`, taken exclusively for the switch alone).
   */
  async switchTo(db: Kysely<any>, keyId: string): Promise<void> {
    if (keyId === this.#current) return;
    if (this.#switchLock === undefined || !this.#keys.has(keyId)) {
      this.use(keyId); // an unknown key: E_SECRETS_KEY_UNKNOWN
      return;
    }
    const lock = this.#switchLock;
    await db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext(${lock}))`.execute(trx);
      this.use(keyId);
    });
  }

  /**
   * Runs key rotations one at a time in this process: a second waits for the
   * first to end (however it ends), then runs from the key it left current.
   */
  serialize<T>(run: () => Promise<T>): Promise<T> {
    const result = this.#rotation.then(run);
    this.#rotation = result.catch(() => {});
    return result;
  }

  /** Id of the key new secrets are sealed with, or undefined when the host has no key. */
  get currentKeyId(): string | undefined {
    return this.#current;
  }

  has(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /**
   * Adds a key to the ring; the first key added becomes current. Adding an id
   * the ring already holds is a no-op when the material is the same, and
   * refused (E_SECRETS_KEY_CONFLICT) when it differs: each row names its key
   * by id, so one id with two keys would leave rows nobody can open, and a
   * rotation to "new" material under an old id would change nothing at all.
   */
  add(key: SecretsKey): void {
    if (typeof key !== "object" || key === null || key instanceof Uint8Array || Array.isArray(key)) {
      // Most often the key material itself (a base64 string) where its { id, key } belongs: never shown.
      throw new SecretsError(
        "E_SECRETS_KEY_INVALID",
        `a secrets key is an { id, key } object, got ${kindOf(key)}; pass { id, key } objects, e.g. rotateSecretsKey({ id: "2026-02", key: generateSecretsKey() }) or createHost({ secrets: { keys: [{ id: "2026-01", key }] } })`,
      );
    }
    if (typeof key.id !== "string" || !/^[A-Za-z0-9._:-]{1,64}$/.test(key.id)) {
      throw new SecretsError(
        "E_SECRETS_KEY_INVALID",
        "secrets key id must be 1 to 64 letters, digits or . _ : - (it is stored beside each ciphertext)",
      );
    }
    if (key.key === undefined || key.key === null || key.key === "") {
      // Most often an environment variable that is not set: say so rather than "must be 32 bytes".
      throw new SecretsError(
        "E_SECRETS_KEY_INVALID",
        `secrets key "${key.id}" has no key material (${key.key === "" ? "an empty string" : String(key.key)}): is the variable or secret it is read from set? Generate one with generateSecretsKey()`,
        { keyId: key.id },
      );
    }
    const raw = typeof key.key === "string" ? decodeBase64(key.key) : key.key;
    if (!(raw instanceof Uint8Array) || raw.byteLength !== 32) {
      throw new SecretsError(
        "E_SECRETS_KEY_INVALID",
        `secrets key "${key.id}" must be 32 random bytes (AES-256), raw or base64; generate one with generateSecretsKey()`,
        { keyId: key.id },
      );
    }
    const fingerprint = createHash("sha256").update(raw).digest();
    const existing = this.#fingerprints.get(key.id);
    if (existing !== undefined) {
      if (timingSafeEqual(existing, fingerprint)) return;
      throw new SecretsError(
        "E_SECRETS_KEY_CONFLICT",
        `secrets key "${key.id}" is already in the host's keyring with other key material; a key id names one key for good: give the new key a new id (e.g. "${key.id}-2")`,
        { keyId: key.id },
      );
    }
    this.#fingerprints.set(key.id, fingerprint);
    this.#keys.set(key.id, crypto.subtle.importKey("raw", copy(raw), "AES-GCM", false, ["encrypt", "decrypt"]));
    this.#current ??= key.id;
  }

  /** Makes a key already in the ring the one new secrets are sealed with. */
  use(keyId: string): void {
    if (!this.#keys.has(keyId)) {
      throw new SecretsError("E_SECRETS_KEY_UNKNOWN", `secrets key "${keyId}" is not in the host's keyring; add it to createHost({ secrets: { keys } })`, {
        keyId,
      });
    }
    this.#current = keyId;
  }

  /** Seals with the current key, or with `keyId` (a re-seal names the key its rotation is for). */
  async seal(plaintext: string, additionalData: string, keyId: string | undefined = this.#current): Promise<SealedSecret> {
    if (keyId === undefined) {
      throw new SecretsError(
        "E_SECRETS_KEY_MISSING",
        "this host has no secrets key: pass createHost({ secrets: { keys: [{ id, key }] } }) with a 32-byte key (generateSecretsKey() makes one)",
      );
    }
    const pending = this.#keys.get(keyId);
    if (pending === undefined) {
      throw new SecretsError("E_SECRETS_KEY_UNKNOWN", `secrets key "${keyId}" is not in the host's keyring`, { keyId });
    }
    const key = await pending;
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: new TextEncoder().encode(additionalData) },
      key,
      new TextEncoder().encode(plaintext),
    );
    return { keyId, nonce, ciphertext: new Uint8Array(sealed) };
  }

  async open(sealed: SealedSecret, additionalData: string, what: Record<string, unknown>): Promise<string> {
    const key = this.#keys.get(sealed.keyId);
    if (key === undefined) {
      throw new SecretsError(
        "E_SECRETS_KEY_UNKNOWN",
        `a secret is sealed with key "${sealed.keyId}", which is not in the host's keyring; add that key to createHost({ secrets: { keys } }) (keep old keys until rotateSecretsKey has re-sealed everything)`,
        { ...what, keyId: sealed.keyId },
      );
    }
    try {
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: copy(sealed.nonce), additionalData: new TextEncoder().encode(additionalData) },
        await key,
        copy(sealed.ciphertext),
      );
      return new TextDecoder().decode(plain);
    } catch {
      throw new SecretsError(
        "E_SECRET_DECRYPT",
        `a secret failed authentication under key "${sealed.keyId}": the row was altered, moved to another install, or the key material is wrong; set the secret again`,
        { ...what, keyId: sealed.keyId },
      );
    }
  }
}

/** 32 random bytes, base64: a fresh key for `createHost({ secrets: { keys: [{ id, key }] } })`. */
export function generateSecretsKey(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
}

function decodeBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  return Uint8Array.from(Buffer.from(text, "base64"));
}

function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

/** WebCrypto wants an ArrayBuffer-backed view it may keep; never hand it a Buffer slice of a shared pool. */
function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}
