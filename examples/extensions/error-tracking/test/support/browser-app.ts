/**
 * A web shop's page with the real @sentry/browser, bundled by esbuild as a
 * site would bundle it, and initialised with the DSN from the query string.
 * Its "Check out" button throws an uncaught TypeError (the SDK's global
 * handler reports it, as on a real site); `window.shop` lets the test capture
 * more and flush.
 */
import * as Sentry from "@sentry/browser";

const dsn = new URLSearchParams(location.search).get("dsn");
if (dsn === null) throw new Error("open the page with ?dsn=…");

Sentry.init({ dsn, release: "web-shop@2.0.0", environment: "browser-test" });

interface Cart {
  items: { sku: string }[];
}

function checkout(cart: Cart | undefined, attempt: number): number {
  if (cart === undefined) throw new TypeError(`cart ${attempt} is not loaded`);
  return cart.items.length;
}

let attempts = 0;
document.getElementById("checkout")!.addEventListener("click", () => {
  attempts += 1;
  // Uncaught, on purpose: the browser SDK's onerror handler sends it.
  checkout(undefined, attempts);
});

function applyCoupon(code: string): void {
  throw new RangeError(`coupon ${code} has expired`);
}

(window as unknown as { shop: unknown }).shop = {
  coupon(code: string): string {
    try {
      applyCoupon(code);
    } catch (error) {
      return Sentry.captureException(error);
    }
    return "";
  },
  flush: (ms: number) => Sentry.flush(ms),
};
document.body.dataset["ready"] = "true";
