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

/** Reads the page once at start-up, from static/ beside this module (the build copies it into dist/server/). */
export function loadStaticFiles(): Map<string, StaticFile> {
  const folder = new URL("./static/", import.meta.url);
  if (!existsSync(fileURLToPath(new URL("index.html", folder)))) {
    throw new Error(`The web app's files are missing from ${fileURLToPath(folder)}: rebuild with npm run build`);
  }
  return new Map(
    Object.entries(FILES).map(([path, { name, type }]) => [path, { body: readFileSync(new URL(name, folder)), type }]),
  );
}
