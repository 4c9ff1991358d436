import type { NextFunction, Request, Response } from "express";

/** Whether `value` (a string, or the strings and keys of parsed JSON or a form) holds a NUL character. */
export function holdsNul(value: unknown, depth = 0): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  // Deeper than express.json lets a body be is not worth walking: the handler refuses its shape anyway.
  if (value === null || typeof value !== "object" || depth > 64 || Buffer.isBuffer(value)) return false;
  if (Array.isArray(value)) return value.some((item) => holdsNul(item, depth + 1));
  return Object.entries(value).some(([key, item]) => key.includes("\u0000") || holdsNul(item, depth + 1));
}

/** The path and query as the routes will decode them: a `%00` anywhere, or a raw NUL. */
const NUL_IN_URL = /%00|\u0000/i;

/**
 * Refuses with 400 any request whose URL, query or body holds a NUL character, before a route can hand it to
 * the database: PostgreSQL refuses NUL in text (and in jsonb), so it would be a 500 with the database's stack
 * in the error log, for anyone, on demand. No string this product keeps may hold one. `skip` leaves a request
 * to its route (sign-in answers it as a wrong sign-in, counted against the address's budget).
 */
export function refuseNulStrings(skip: (req: Request) => boolean) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (skip(req) || !(NUL_IN_URL.test(req.originalUrl) || holdsNul(req.body))) return next();
    res.status(400);
    const message = "the request holds a NUL character, which no field here accepts";
    if (req.accepts(["json", "html"]) === "html") return void res.type("html").send(`<!doctype html><title>Bad request</title><p>${message}</p>`);
    res.json({ code: "E_BAD_REQUEST", message, details: {} });
  };
}
