import { totalmem } from "node:os";
import { MODEL_NAMES, type ModelName } from "../model/VggArchitecture.js";
import { oneOf, text, wholeNumber } from "../options/Check.js";
import { MIN_SIZE } from "../pipeline/OptionSchema.js";

/** How the web app runs; everything has a default that suits one person on their own machine. */
export interface ServerConfig {
  /** The address the server binds; also decides which Host headers it answers (see Server.ts). */
  host: string;
  /** Jobs optimising at the same time. */
  maxRunning: number;
  /** Jobs waiting behind the running ones; more are refused with 503. */
  maxQueued: number;
  /** Running jobs' estimated peak memory may not add up to more than this. */
  memoryBudgetBytes: number;
  /** Per uploaded file. */
  maxUploadBytes: number;
  /** Per uploaded image, judged from its header before decoding. */
  maxPixels: number;
  maxStyles: number;
  /** Largest output long edge a client may ask for. */
  maxSize: number;
  maxIterations: number;
  maxEvalsPerIteration: number;
  /** Encode a preview every N evaluations. */
  previewEvery: number;
  /** Finished jobs (with their result images) kept in memory; the oldest are forgotten first. */
  maxHistory: number;
  model?: ModelName;
  /** A local weights file; otherwise the library downloads and caches the catalogued one. */
  weights?: string;
  threads?: number;
  logger: boolean;
}

export function defaultServerConfig(): ServerConfig {
  return {
    host: "127.0.0.1",
    maxRunning: 1,
    maxQueued: 8,
    // A quarter is left for the OS, the browser showing the page, and Node itself.
    memoryBudgetBytes: Math.floor(totalmem() * 0.75),
    maxUploadBytes: 20 * 2 ** 20,
    maxPixels: 40_000_000,
    maxStyles: 4,
    maxSize: 2048,
    maxIterations: 100,
    maxEvalsPerIteration: 1000,
    previewEvery: 5,
    maxHistory: 50,
    logger: false,
  };
}

/** The defaults with `overrides` applied; refuses values the server could not work with. */
export function resolveServerConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const config: ServerConfig = { ...defaultServerConfig(), ...defined };
  const whole = (key: keyof ServerConfig, label: string, min: number) => wholeNumber({ key, label }, config[key], min);
  whole("maxRunning", "maximum running jobs", 1);
  whole("maxQueued", "maximum queue length", 0);
  whole("memoryBudgetBytes", "memory budget (bytes)", 1);
  whole("maxUploadBytes", "maximum upload size (bytes)", 1);
  whole("maxPixels", "maximum pixels per image", 1);
  whole("maxStyles", "maximum style images", 1);
  whole("maxSize", "maximum output size", MIN_SIZE);
  whole("maxIterations", "maximum iterations", 1);
  whole("maxEvalsPerIteration", "maximum evaluations per iteration", 1);
  whole("previewEvery", "preview interval", 1);
  whole("maxHistory", "history length", 1);
  if (config.threads !== undefined) whole("threads", "threads", 1);
  if (config.model !== undefined) oneOf({ key: "model", label: "model" }, config.model, MODEL_NAMES);
  text({ key: "host", label: "host to bind" }, config.host);
  return config;
}
