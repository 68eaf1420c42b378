import { Argument, type Command, Option } from "commander";
import { PasticheError } from "../errors.js";
import { backboneFor, MODEL_NAMES, type ModelName } from "../backbone/Backbone.js";
import { PRESETS } from "../pipeline/Presets.js";
import {
  cachedWeightsPath,
  type CatalogueEntry,
  inspectCachedWeights,
  resolveWeights,
  verifyCachedWeights,
  weightsCacheDir,
} from "../weights/WeightStore.js";
import { ProgressDisplay } from "./ProgressDisplay.js";

export const WEIGHTS_ACTIONS = ["list", "fetch", "verify", "path"] as const;
export type WeightsAction = (typeof WEIGHTS_ACTIONS)[number];

/** What `pastiche weights` works on: the real catalogue and cache, or a test's. */
export interface WeightsContext {
  catalogue: Readonly<Record<ModelName, CatalogueEntry>>;
  cacheDir: string;
  /** One line of the command's output (stdout). */
  print: (line: string) => void;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const fetchCommand = (models: readonly string[]) =>
  `pastiche weights fetch${models.length === 1 ? ` --model ${models[0]}` : ""}`;

/**
 * `pastiche weights [list|fetch|verify|path] [--model m]`: the same cache, download and checks as
 * a run's automatic download, ahead of time. Without --model: every model, and for `path` the
 * default preset's.
 */
export async function runWeights(action: WeightsAction, model: ModelName | undefined, ctx: WeightsContext): Promise<void> {
  const models: readonly ModelName[] = model ? [model] : action === "path" ? [PRESETS.default.model] : MODEL_NAMES;
  const entries = models.map((m) => ctx.catalogue[m]);
  switch (action) {
    case "path":
      for (const entry of entries) ctx.print(cachedWeightsPath(entry, ctx.cacheDir));
      return;
    case "list":
      ctx.print(`weights cache: ${ctx.cacheDir}`);
      for (const entry of entries) ctx.print(await describeCached(entry, ctx.cacheDir));
      return;
    case "fetch":
      return fetchAll(entries, ctx);
    case "verify":
      return verifyAll(entries, ctx);
  }
}

async function describeCached(entry: CatalogueEntry, cacheDir: string): Promise<string> {
  const file = cachedWeightsPath(entry, cacheDir);
  const fetch = fetchCommand([entry.model]);
  const state = await inspectCachedWeights(entry, cacheDir);
  switch (state.kind) {
    case "missing":
      return `${entry.model}: not downloaded (${mb(entry.size)}); \`${fetch}\` puts it at ${file}`;
    case "partial":
      return `${entry.model}: partly downloaded (${mb(state.bytes)} of ${mb(entry.size)}) in ${file}.part; \`${fetch}\` resumes it`;
    case "present":
      if (state.bytes !== entry.size) return `${entry.model}: ${file} has ${state.bytes} bytes instead of ${entry.size}; \`${fetch}\` replaces it`;
      return state.verified
        ? `${entry.model}: ${file} (${mb(entry.size)}, md5 verified)`
        : `${entry.model}: ${file} (${mb(entry.size)}, not verified yet: \`pastiche weights verify --model ${entry.model}\` checks its md5)`;
  }
}

async function fetchAll(entries: CatalogueEntry[], ctx: WeightsContext): Promise<void> {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    for (const entry of entries) {
      const display = new ProgressDisplay(false);
      const resolved = await resolveWeights({
        entry,
        cacheDir: ctx.cacheDir,
        onProgress: (received, total) => display.download(received, total),
        signal: abort.signal,
      }).finally(() => display.stop());
      ctx.print(`${entry.model}: ${resolved.downloaded ? "downloaded" : "already cached"} ${resolved.path} (md5 ${resolved.md5} verified)`);
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function verifyAll(entries: CatalogueEntry[], ctx: WeightsContext): Promise<void> {
  const failed: { entry: CatalogueEntry; problem: string }[] = [];
  for (const entry of entries) {
    const problem = await verifyCachedWeights(entry, ctx.cacheDir);
    if (problem) failed.push({ entry, problem });
    else ctx.print(`${entry.model}: ${cachedWeightsPath(entry, ctx.cacheDir)} (md5 ${entry.md5} verified)`);
  }
  if (failed.length === 0) return;
  const what = failed.map(({ entry, problem }) => `${entry.model}: ${cachedWeightsPath(entry, ctx.cacheDir)} ${problem === "not downloaded" ? "is not downloaded" : `has ${problem}`}`);
  const missingOnly = failed.every(({ problem }) => problem === "not downloaded");
  throw new PasticheError(
    missingOnly ? "WEIGHTS_MISSING" : "WEIGHTS_INVALID",
    `${what.join("; ")}. Run \`${fetchCommand(failed.map((f) => f.entry.model))}\`: it downloads what is missing and replaces a wrong file.`,
  );
}

/** The `weights` sub-command, on the real catalogue and cache. */
export function addWeightsCommand(program: Command): void {
  program
    .command("weights")
    .description("see, download ahead of time or check the VGG weights in the cache")
    .addArgument(new Argument("[action]", "list: what is cached where; fetch: download; verify: check the md5; path: print the file's path").choices(WEIGHTS_ACTIONS).default("list"))
    .addOption(new Option("--model <name>", "one network (default: every one; for path, the default preset's)").choices(MODEL_NAMES))
    .action((action: WeightsAction, o: { model?: ModelName }) =>
      runWeights(action, o.model, {
        catalogue: Object.fromEntries(MODEL_NAMES.map((m) => [m, backboneFor(m).catalogue])) as Record<ModelName, CatalogueEntry>,
        cacheDir: weightsCacheDir(),
        print: (line) => process.stdout.write(`${line}\n`),
      }),
    );
}
