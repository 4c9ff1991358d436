import { parse, type DefaultTreeAdapterTypes } from "parse5";
import { BuildError } from "../errors.js";
import { resolveReference, srcsetUrls, type Reference } from "./references.js";

type Element = DefaultTreeAdapterTypes.Element;
type ParentNode = DefaultTreeAdapterTypes.ParentNode;

const HTML_NS = "http://www.w3.org/1999/xhtml";

/** A span of the page's text, in UTF-16 offsets (what parse5 reports and String.slice takes). */
export interface Span {
  start: number;
  end: number;
}

/** What the build does to one element of a page. */
export type PageAction =
  /** `<script type="module" src>` of a local file: bundled; the `src` attribute is rewritten. */
  | { kind: "module-script"; source: string; src: Span; integrity: Span | null; tagStart: number }
  /** `<link rel="stylesheet" href>` of a local file: bundled; the `href` attribute is rewritten. */
  | { kind: "stylesheet"; source: string; href: Span; integrity: Span | null }
  /** An inline `<script type="module">`: bundled into a file; the element becomes `<script type="module" src>`. */
  | { kind: "inline-module"; code: string; element: Span; attributes: string; tagStart: number }
  /** An inline classic `<script>`: written as it is into a file (classic scripts import nothing); the element gets a `src`. */
  | { kind: "inline-classic"; code: string; element: Span; attributes: string }
  /** An inline `<style>`: bundled into a stylesheet file; the element becomes `<link rel="stylesheet">`. */
  | { kind: "inline-style"; code: string; element: Span; attributes: string };

export interface ScannedPage {
  actions: PageAction[];
  /** Local files the page refers to otherwise (images, links to other pages …): each must be in the bundle. */
  references: { path: string; at: string; what: string }[];
}

export interface ScanPageOptions {
  /** The page's bundle path, e.g. "ui/index.html". */
  page: string;
  html: string;
  /** The manifest's ui.root. */
  root: string;
  /** Whether an inline script's text is allowed by the manifest's ui.csp.scriptHashes (it is then left in place). */
  isHashAllowed: (code: string) => boolean;
}

/** Attributes whose value is one URL the browser loads or navigates to. */
const URL_ATTRIBUTES = new Set(["src", "href", "xlink:href", "poster", "data", "action", "formaction", "background", "cite", "longdesc", "manifest"]);
const CLASSIC_SCRIPT_TYPES = new Set([
  "",
  "text/javascript",
  "application/javascript",
  "application/ecmascript",
  "application/x-ecmascript",
  "application/x-javascript",
  "text/ecmascript",
  "text/javascript1.0",
  "text/javascript1.1",
  "text/javascript1.2",
  "text/javascript1.3",
  "text/javascript1.4",
  "text/javascript1.5",
  "text/jscript",
  "text/livescript",
  "text/x-ecmascript",
  "text/x-javascript",
]);
/** Sources the browser cannot run as they are: these are only ever loaded after the build. */
const NEEDS_BUILD = /\.(?:ts|mts|cts|tsx|jsx)$/i;

/**
 * Reads one page and decides what the build does with each element, under
 * the policy the frame's Content-Security-Policy enforces anyway (scripts and
 * styles only from the bundle, nothing inline): so a page that would break in
 * the browser fails at pack time instead, naming the page, line and column.
 */
export function scanPage(options: ScanPageOptions): ScannedPage {
  const { page, html, root } = options;
  const document = parse(html, { sourceCodeLocationInfo: true });
  const actions: PageAction[] = [];
  const references: ScannedPage["references"] = [];

  const visit = (element: Element): void => {
    const location = element.sourceCodeLocation;
    const at = location ? `${location.startLine}:${location.startCol}` : "1:1";
    const tag = element.tagName;
    const attr = (name: string) => element.attrs.find((a) => a.name === name && a.prefix === undefined)?.value;
    const span = (name: string): Span | null => {
      const where = location?.attrs?.[name];
      return where ? { start: where.startOffset, end: where.endOffset } : null;
    };
    const inHtml = element.namespaceURI === HTML_NS;

    for (const attribute of element.attrs) {
      const name = attribute.prefix === undefined ? attribute.name : `${attribute.prefix}:${attribute.name}`;
      if (/^on[a-z]+$/i.test(attribute.name)) {
        throw inline(page, at, `<${tag} ${name}> is an inline event handler, which the frame's Content-Security-Policy blocks: add the listener from a module script (element.addEventListener("${attribute.name.slice(2)}", …))`);
      }
      if (attribute.name === "style" && attribute.prefix === undefined) {
        throw inline(page, at, `<${tag} style> is an inline style, which the frame's Content-Security-Policy blocks: give the element a class and style it in the page's stylesheet`);
      }
    }
    if (tag === "base" && inHtml) {
      throw inline(page, at, "<base> changes where every relative URL of the page points, and the frame's Content-Security-Policy (base-uri 'none') blocks it: remove it and write paths relative to the page");
    }

    if (tag === "script") {
      const src = attr("src") ?? (inHtml ? undefined : (attr("href") ?? element.attrs.find((a) => a.name === "href" && a.prefix === "xlink")?.value));
      const type = (attr("type") ?? "").trim().toLowerCase();
      const isModule = type === "module";
      const isClassic = CLASSIC_SCRIPT_TYPES.has(type);
      if (type === "importmap") {
        throw inline(page, at, "<script type=\"importmap\">: imports are bundled when the page is packed, so a page needs no import map; remove it and import packages by name from a module script");
      }
      if (!isModule && !isClassic) return; // A data block (JSON, a template): never run, never blocked.
      if (!inHtml) {
        throw inline(page, at, "an SVG <script> cannot be built with the page: move its code into a module script of the page");
      }
      if (src !== undefined) {
        const what = isModule ? '<script type="module" src>' : "<script src>";
        const reference = resolveReference(src, root, { page, at, what });
        if (reference.kind === "remote") {
          throw new BuildError(
            "E_UI_REFERENCE",
            `${page}:${at}: ${what} ${JSON.stringify(src)} loads a script from elsewhere, which the frame's Content-Security-Policy blocks (scripts come only from the bundle): install the package and import it from a module script, and the build bundles it.`,
            { page, reference: src },
          );
        }
        if (reference.kind !== "local") return;
        if (isModule) {
          actions.push({ kind: "module-script", source: reference.path, src: span("src")!, integrity: span("integrity"), tagStart: location!.startOffset });
        } else if (NEEDS_BUILD.test(reference.path)) {
          throw new BuildError(
            "E_UI_REFERENCE",
            `${page}:${at}: <script src=${JSON.stringify(src)}> is a classic script, and only module scripts are built: add type="module" to it.`,
            { page, reference: src },
          );
        } else {
          references.push({ path: reference.path, at, what });
        }
        return;
      }
      const code = textOf(element);
      if (code.trim() === "" || options.isHashAllowed(code)) return;
      const tagText = html.slice(location!.startTag!.startOffset, location!.startTag!.endOffset);
      const attributes = tagText.replace(/^<script/i, "").replace(/\/?>$/, "").trim();
      const element_ = { start: location!.startOffset, end: location!.endOffset };
      actions.push(
        isModule
          ? { kind: "inline-module", code, element: element_, attributes, tagStart: location!.startOffset }
          : { kind: "inline-classic", code, element: element_, attributes },
      );
      return;
    }

    if (tag === "style") {
      if (!inHtml) {
        throw inline(page, at, "an SVG <style> is an inline style, which the frame's Content-Security-Policy blocks: move its rules into the page's stylesheet");
      }
      const code = textOf(element);
      if (code.trim() === "") return;
      const media = attr("media");
      actions.push({
        kind: "inline-style",
        code,
        element: { start: location!.startOffset, end: location!.endOffset },
        attributes: media === undefined ? "" : `media="${escapeAttribute(media)}"`,
      });
      return;
    }

    const rel = (attr("rel") ?? "").toLowerCase().split(/\s+/);
    const isStylesheet = tag === "link" && inHtml && rel.includes("stylesheet");
    for (const attribute of element.attrs) {
      const name = attribute.prefix === undefined ? attribute.name : `${attribute.prefix}:${attribute.name}`;
      const urls = name === "srcset" || name === "imagesrcset" ? srcsetUrls(attribute.value) : URL_ATTRIBUTES.has(name) ? [attribute.value] : [];
      for (const url of urls) {
        const what = `<${tag} ${name}>`;
        const reference: Reference = resolveReference(url, root, { page, at, what });
        if (isStylesheet && name === "href") {
          if (reference.kind === "remote") {
            throw new BuildError(
              "E_UI_REFERENCE",
              `${page}:${at}: <link rel="stylesheet" href=${JSON.stringify(url)}> loads a stylesheet from elsewhere, which the frame's Content-Security-Policy blocks: copy it under ${root}/ or install its package and @import it from the page's stylesheet.`,
              { page, reference: url },
            );
          }
          if (reference.kind === "local") actions.push({ kind: "stylesheet", source: reference.path, href: span("href")!, integrity: span("integrity") });
        } else if (reference.kind === "local") {
          references.push({ path: reference.path, at, what });
        }
      }
    }
  };

  const walk = (parent: ParentNode): void => {
    for (const child of parent.childNodes) {
      if (!("tagName" in child)) continue;
      visit(child);
      walk(child);
      if (child.tagName === "template" && "content" in child) walk((child as DefaultTreeAdapterTypes.Template).content);
    }
  };
  walk(document);
  return { actions, references };
}

function textOf(element: Element): string {
  return element.childNodes.map((node) => (node.nodeName === "#text" ? (node as DefaultTreeAdapterTypes.TextNode).value : "")).join("");
}

function inline(page: string, at: string, message: string): BuildError {
  return new BuildError("E_UI_INLINE", `${page}:${at}: ${message}.`, { page });
}

export function escapeAttribute(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;");
}
