import { request as httpRequest, type IncomingHttpHeaders } from "node:http";

/**
 * A small cookie-keeping HTTP client for the reference host's tests: what a
 * browser would send, without the browser (the Chromium tests cover that).
 */
export class Client {
  private readonly cookies = new Map<string, string>();

  constructor(readonly base: string) {}

  async request(method: string, path: string, init: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size > 0) headers["cookie"] = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    let body: string | undefined;
    if (init.form !== undefined) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(init.json);
    }
    const response = await fetch(new URL(path, this.base), { method, headers, body, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const index = pair!.indexOf("=");
      const name = pair!.slice(0, index);
      const value = pair!.slice(index + 1);
      if (value === "" || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  /**
   * A request through node:http with exactly `headers` (and the cookies): fetch sets `Sec-Fetch-Mode` itself, so a
   * browser's navigation (`Sec-Fetch-Mode: navigate`) can only be sent this way. Cookies it answers are not kept.
   */
  raw(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
    const url = new URL(path, this.base);
    const all: Record<string, string> = { ...headers };
    if (this.cookies.size > 0) all["cookie"] = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: all }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  get(path: string, headers?: Record<string, string>): Promise<Response> {
    return this.request("GET", path, { headers });
  }

  /** The CSRF token of a page (its hidden _csrf field or csrf-token meta). */
  async csrfFrom(path: string): Promise<string> {
    const text = await (await this.get(path)).text();
    const match = /name="_csrf" value="([^"]+)"/.exec(text) ?? /name="csrf-token" content="([^"]+)"/.exec(text);
    if (match === null) throw new Error(`no CSRF token on ${path}`);
    return match[1]!;
  }

  async signIn(email: string, password = "annex-demo"): Promise<Response> {
    const token = await this.csrfFrom("/login");
    return this.request("POST", "/login", { form: { _csrf: token, email, password, next: "/" } });
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }
}

/**
 * A client whose requests come from `address`: what the one proxy in front of a host started with `trustProxy: 1`
 * forwards as X-Forwarded-For. `address` may also be a list, as an appending proxy forwards it (the client's own
 * header, then the client's address): with one hop trusted, only the last entry counts.
 */
export class ClientAt extends Client {
  constructor(
    base: string,
    private readonly address: string,
  ) {
    super(base);
  }

  override request(method: string, path: string, init: Parameters<Client["request"]>[2] = {}): Promise<Response> {
    return super.request(method, path, { ...init, headers: { "x-forwarded-for": this.address, ...init.headers } });
  }
}
