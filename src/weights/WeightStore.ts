import { createHash, randomBytes } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import * as fsp from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { isPasticheError, PasticheError } from "../errors.js";

/** A downloadable weights file (a backbone's catalogue entry): where it lives and what it must hash to. */
export interface CatalogueEntry {
  /** The network it is for, as --model names it. */
  readonly model: string;
  readonly url: string;
  /** Name of the file in the cache directory. */
  readonly fileName: string;
  readonly size: number;
  readonly md5: string;
}

/** Called for every chunk received; `received` includes bytes resumed from an earlier run. */
export type DownloadListener = (received: number, total: number) => void;

export interface ResolveWeightsOptions {
  /** The catalogue file to use when no local file is given (Backbone.catalogue). */
  entry: CatalogueEntry;
  /** A local file (--weights): used as is, never downloaded, replaced or deleted. */
  weights?: string;
  /** Defaults to weightsCacheDir(). */
  cacheDir?: string;
  onProgress?: DownloadListener;
  signal?: AbortSignal;
}

export interface ResolvedWeights {
  readonly path: string;
  readonly md5: string;
  /** True when the file is byte-identical to the catalogue's. */
  readonly catalogued: boolean;
  /** True when this call fetched (part of) the file. */
  readonly downloaded: boolean;
  /** Information for the user, e.g. that a local file is not the catalogued one. */
  readonly note?: string;
}

/** PASTICHE_CACHE, else $XDG_CACHE_HOME/pastiche, else ~/.cache/pastiche. */
export function weightsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PASTICHE_CACHE) return path.resolve(env.PASTICHE_CACHE);
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, "pastiche");
  return path.join(env.HOME || homedir(), ".cache", "pastiche");
}

/** Where the catalogue file of `entry` lives in the cache, whether or not it is there yet. */
export function cachedWeightsPath(entry: CatalogueEntry, cacheDir: string = weightsCacheDir()): string {
  return path.join(cacheDir, entry.fileName);
}

export async function md5File(file: string): Promise<string> {
  const hash = createHash("md5");
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Finds the weights file for a model: the user's file as given, else the cached catalogue file,
 * downloading (or resuming) it first if it is missing or fails its size/md5 check.
 */
export async function resolveWeights(options: ResolveWeightsOptions): Promise<ResolvedWeights> {
  const { entry } = options;
  if (options.weights !== undefined) return localWeights(options.weights, entry);
  const target = cachedWeightsPath(entry, options.cacheDir);
  // Concurrent callers in one process (the web server) share one check and one download rather
  // than appending to the same .part; they get the first caller's progress and cancellation.
  let pending = inFlight.get(target);
  if (!pending) {
    pending = ensureCached(entry, target, options.onProgress, options.signal)
      .catch((e: unknown) => {
        throw cacheError(e, path.dirname(target));
      })
      .finally(() => inFlight.delete(target));
    inFlight.set(target, pending);
  }
  const downloaded = await pending;
  return { path: target, md5: entry.md5, catalogued: true, downloaded };
}

/**
 * A file-system failure in the cache (read-only, no space, a file where the folder should be)
 * becomes a message with the fixes; PasticheErrors and anything else pass through.
 */
function cacheError(e: unknown, dir: string): unknown {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (isPasticheError(e) || typeof code !== "string" || !code.startsWith("E")) return e;
  const why: Record<string, string> = {
    EACCES: "it is not writable",
    EPERM: "it is not writable",
    EROFS: "it is on a read-only file system",
    ENOSPC: "the disk is full (the weights need about 80 MB)",
    EDQUOT: "the disk quota is used up (the weights need about 80 MB)",
    ENOTDIR: "a file stands where a folder should be",
    EEXIST: "a file stands where a folder should be",
  };
  return new PasticheError(
    "WEIGHTS_CACHE",
    `Cannot use the weights cache ${dir}: ${why[code] ?? (e as Error).message} (${code}). Make it writable, ` +
      `set PASTICHE_CACHE to a writable folder, or pass a local weights file with --weights FILE.`,
    { cause: e },
  );
}

/** Cache path -> whether the pending check had to download. */
const inFlight = new Map<string, Promise<boolean>>();

async function ensureCached(
  entry: CatalogueEntry,
  target: string,
  onProgress: DownloadListener | undefined,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  if (await cachedFileIsValid(target, entry)) return false;
  await download(entry, target, onProgress, signal);
  return true;
}

const localFix = (entry: CatalogueEntry) =>
  `Check the path given with --weights, or omit --weights to download ${entry.fileName}.`;

async function localWeights(file: string, entry: CatalogueEntry): Promise<ResolvedWeights> {
  const abs = path.resolve(file);
  const st = await fsp.stat(abs).catch((e: NodeJS.ErrnoException) => {
    const why = e.code === "ENOENT" ? "not found" : `cannot be read (${e.code ?? e.message})`;
    throw new PasticheError("WEIGHTS_MISSING", `Weights file ${why}: ${abs}. ${localFix(entry)}`, { cause: e });
  });
  if (!st.isFile()) throw new PasticheError("WEIGHTS_MISSING", `Weights path is not a file: ${abs}. ${localFix(entry)}`);
  const md5 = await md5File(abs);
  if (md5 === entry.md5) return { path: abs, md5, catalogued: true, downloaded: false };
  return {
    path: abs,
    md5,
    catalogued: false,
    downloaded: false,
    note:
      `${abs} (md5 ${md5}) is not the catalogued ${entry.model} file ` +
      `${entry.fileName} (md5 ${entry.md5}); using it as given.`,
  };
}

// Hashing 80 MB takes ~0.25 s on an idle core and more on a busy one, so a verified file is
// remembered by a stamp of its size and mtime instead of being re-hashed on every run.
interface Stamp {
  size: number;
  mtimeMs: number;
  md5: string;
}

const stampPath = (target: string) => `${target}.verified`;

async function stampMatches(target: string, st: Stats, md5: string): Promise<boolean> {
  try {
    const stamp = JSON.parse(await fsp.readFile(stampPath(target), "utf8")) as Partial<Stamp>;
    return stamp.size === st.size && stamp.mtimeMs === st.mtimeMs && stamp.md5 === md5;
  } catch {
    return false; // missing or garbled stamp: hash instead
  }
}

async function writeStamp(target: string, md5: string): Promise<void> {
  const st = await fsp.stat(target);
  const stamp: Stamp = { size: st.size, mtimeMs: st.mtimeMs, md5 };
  // Best effort: without a stamp the next run just hashes the file again.
  await fsp.writeFile(stampPath(target), JSON.stringify(stamp)).catch(() => undefined);
}

async function statOrNull(file: string): Promise<Stats | null> {
  return fsp.stat(file).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return null;
    throw e;
  });
}

/** What the cache holds for one catalogue file, found without hashing it. */
export type CacheState =
  | { readonly kind: "missing" }
  /** Only the `.part` of an interrupted download; the next download resumes it. */
  | { readonly kind: "partial"; readonly bytes: number }
  /** `verified`: its stamp vouches for the md5 at this size and mtime, so runs use it unhashed. */
  | { readonly kind: "present"; readonly bytes: number; readonly verified: boolean };

export async function inspectCachedWeights(entry: CatalogueEntry, cacheDir?: string): Promise<CacheState> {
  const target = cachedWeightsPath(entry, cacheDir);
  const st = await statOrNull(target);
  if (st) return { kind: "present", bytes: st.size, verified: st.size === entry.size && (await stampMatches(target, st, entry.md5)) };
  const part = await statOrNull(`${target}.part`);
  return part ? { kind: "partial", bytes: part.size } : { kind: "missing" };
}

/**
 * Hashes the cached file whatever its stamp says: null when it is the catalogue's file (the stamp
 * is renewed), else what is wrong. Unlike a run, it deletes nothing.
 */
export async function verifyCachedWeights(entry: CatalogueEntry, cacheDir?: string): Promise<string | null> {
  const target = cachedWeightsPath(entry, cacheDir);
  if (!(await statOrNull(target))) return "not downloaded";
  const problem = await checkFile(target, entry);
  if (!problem) await writeStamp(target, entry.md5);
  return problem;
}

/** True if `target` is the catalogue file; a wrong file is deleted so that it is fetched again. */
async function cachedFileIsValid(target: string, entry: CatalogueEntry): Promise<boolean> {
  const st = await statOrNull(target);
  if (!st) return false;
  if (st.size === entry.size) {
    if (await stampMatches(target, st, entry.md5)) return true;
    if ((await md5File(target)) === entry.md5) {
      await writeStamp(target, entry.md5);
      return true;
    }
  }
  await fsp.rm(target, { force: true });
  await fsp.rm(stampPath(target), { force: true });
  return false;
}

function howToFix(entry: CatalogueEntry, target: string): string {
  return (
    `Download ${entry.url} yourself (${entry.size} bytes, md5 ${entry.md5}) and put it at ${target}, ` +
    `or pass a local weights file with --weights FILE.`
  );
}

function describeFailure(e: unknown): string {
  // fetch() reports "fetch failed" and keeps the useful part (ECONNREFUSED, ENOTFOUND...) in `cause`.
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return String(cause);
}

function transferError(
  entry: CatalogueEntry,
  target: string,
  e: unknown,
  signal?: AbortSignal,
  keptPart?: string,
): PasticheError {
  if (signal?.aborted) return new PasticheError("CANCELLED", "Weights download cancelled", { cause: e });
  const resume = keptPart ? ` The bytes received so far are kept in ${keptPart}; running again resumes.` : "";
  return new PasticheError(
    "WEIGHTS_DOWNLOAD",
    `Could not download the ${entry.model} weights from ${entry.url} (${describeFailure(e)}).${resume} ` +
      howToFix(entry, target),
    { cause: e },
  );
}

async function download(
  entry: CatalogueEntry,
  target: string,
  onProgress: DownloadListener | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  // Every process downloads into a file of its own, so that two first runs at once (two CLI runs,
  // or a CLI run beside the server) never write into one file; the finished file is renamed into
  // place atomically. Bytes an earlier run left in `.part` are taken over by one process only:
  // whoever renames it first.
  const shared = `${target}.part`;
  const own = `${target}.${process.pid}-${randomBytes(4).toString("hex")}.part`;
  await fsp.rename(shared, own).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "ENOENT") throw e;
  });
  try {
    for (let attempt = 1; ; attempt++) {
      const resumed = await fetchInto(entry, own, shared, target, onProgress, signal);
      const problem = await checkFile(own, entry);
      if (!problem) break;
      await fsp.rm(own, { force: true });
      // A resumed file may have been spoiled by an earlier run: one fresh attempt settles it.
      if (!resumed || attempt > 1) {
        throw new PasticheError(
          "WEIGHTS_DOWNLOAD",
          `The file downloaded from ${entry.url} is not the expected one (${problem}); it was deleted. ` +
            howToFix(entry, target),
        );
      }
    }
    await fsp.rename(own, target);
  } catch (e) {
    // Whatever was received is left for a later run to resume (nothing, if the file was deleted).
    await fsp.rename(own, shared).catch(() => undefined);
    throw e;
  }
  await writeStamp(target, entry.md5);
}

async function checkFile(file: string, entry: CatalogueEntry): Promise<string | null> {
  const { size } = await fsp.stat(file);
  if (size !== entry.size) return `${size} bytes instead of ${entry.size}`;
  const md5 = await md5File(file);
  return md5 === entry.md5 ? null : `md5 ${md5} instead of ${entry.md5}`;
}

/**
 * Appends the rest of the file to `part`; returns whether earlier bytes were kept (a resume).
 * `keptAs` is where a failed transfer's bytes will wait for the next run.
 */
async function fetchInto(
  entry: CatalogueEntry,
  part: string,
  keptAs: string,
  target: string,
  onProgress: DownloadListener | undefined,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  let offset = (await statOrNull(part))?.size ?? 0;
  if (offset > entry.size) {
    await fsp.rm(part);
    offset = 0;
  }
  // A complete part left by a run that died before the rename: the caller verifies it.
  if (offset === entry.size) return true;

  let res: Response;
  try {
    res = await fetch(entry.url, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, signal });
  } catch (e) {
    throw transferError(entry, target, e, signal);
  }
  if (offset > 0 && res.status === 200) {
    offset = 0; // the server ignored the Range header and sends the whole file
  } else if (offset > 0 && (res.status === 416 || (res.status === 206 && rangeStart(res) !== offset))) {
    // The server cannot continue where we stopped: start over.
    await res.body?.cancel();
    await fsp.rm(part, { force: true });
    return fetchInto(entry, part, keptAs, target, onProgress, signal);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw transferError(entry, target, new Error(`HTTP ${res.status} ${res.statusText}`), signal);
  }

  const file = await fsp.open(part, offset > 0 ? "a" : "w").catch(async (e: unknown) => {
    await res.body?.cancel();
    throw e;
  });
  let received = offset;
  let oversized = false;
  try {
    for await (const chunk of res.body) {
      received += chunk.byteLength;
      // Never let a misbehaving server fill the disk.
      if (received > entry.size) {
        oversized = true;
        throw new Error(`the server sent more than the expected ${entry.size} bytes`);
      }
      await file.write(chunk);
      onProgress?.(received, entry.size);
    }
  } catch (e) {
    await file.close();
    if (oversized) await fsp.rm(part, { force: true });
    throw transferError(entry, target, e, signal, oversized ? undefined : keptAs);
  }
  await file.close();
  return offset > 0;
}

function rangeStart(res: Response): number | null {
  const m = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
  return m ? Number(m[1]) : null;
}
