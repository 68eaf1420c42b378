import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface StaticFile {
  body: Buffer;
  type: string;
}

/** The page's files by URL path; a fixed list, so no request path ever reaches the file system. */
const FILES: Record<string, { name: string; type: string }> = {
  "/": { name: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { name: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { name: "style.css", type: "text/css; charset=utf-8" },
};

/**
 * Reads the page once at start-up. The files live next to this module in src/server/static;
 * a build (dist/server/) does not copy them, so it falls back to the sources shipped beside it.
 */
export function loadStaticFiles(): Map<string, StaticFile> {
  const candidates = [new URL("./static/", import.meta.url), new URL("../../src/server/static/", import.meta.url)];
  const folder = candidates.find((url) => existsSync(fileURLToPath(new URL("index.html", url))));
  if (!folder) throw new Error(`The web app's files are missing; looked in ${candidates.map((u) => fileURLToPath(u)).join(", ")}`);
  return new Map(
    Object.entries(FILES).map(([path, { name, type }]) => [path, { body: readFileSync(new URL(name, folder)), type }]),
  );
}
