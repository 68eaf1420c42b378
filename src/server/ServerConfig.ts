import { totalmem } from "node:os";
import { PasticheError } from "../errors.js";
import { MODEL_NAMES, type ModelName } from "../model/VggArchitecture.js";

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
  wholeNumber("maximum running jobs", config.maxRunning, 1);
  wholeNumber("maximum queue length", config.maxQueued, 0);
  wholeNumber("memory budget (bytes)", config.memoryBudgetBytes, 1);
  wholeNumber("maximum upload size (bytes)", config.maxUploadBytes, 1);
  wholeNumber("maximum pixels per image", config.maxPixels, 1);
  wholeNumber("maximum style images", config.maxStyles, 1);
  wholeNumber("maximum output size", config.maxSize, 16);
  wholeNumber("maximum iterations", config.maxIterations, 1);
  wholeNumber("maximum evaluations per iteration", config.maxEvalsPerIteration, 1);
  wholeNumber("preview interval", config.previewEvery, 1);
  wholeNumber("history length", config.maxHistory, 1);
  if (config.threads !== undefined) wholeNumber("threads", config.threads, 1);
  if (config.model !== undefined && !MODEL_NAMES.includes(config.model)) {
    throw new PasticheError("BAD_OPTION", `unknown model "${config.model}"; use one of: ${MODEL_NAMES.join(", ")}`);
  }
  if (config.host.trim() === "") throw new PasticheError("BAD_OPTION", "the host to bind must not be empty");
  return config;
}

function wholeNumber(what: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new PasticheError("BAD_OPTION", `the ${what} must be a whole number >= ${min}, got ${value}`);
  }
}
