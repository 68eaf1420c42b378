import { MODEL_NAMES, type ModelName } from "../backbone/Backbone.js";
import { badOption, oneOf, text, wholeNumber } from "../options/Check.js";
import { defaultMemoryBudget } from "../pipeline/MemoryBudget.js";
import { MIN_SIZE } from "../pipeline/OptionSchema.js";
import { isLoopback } from "./AccessControl.js";

export const MIN_TOKEN_LENGTH = 16;

/** How the web app runs; everything has a default that suits one person on their own machine. */
export interface ServerConfig {
  /** The address the server binds; also decides which Host headers it answers (see AccessControl.ts). */
  host: string;
  /** Names other than loopback names and IP addresses that clients may reach the server by. */
  allowedHosts: string[];
  /** Required of every request when set; a server bound to a non-loopback address must have one. */
  token?: string;
  /** Time a client has to send a whole request (headers and uploads). */
  requestTimeoutMs: number;
  /** A connection idle this long is closed (event streams send a heartbeat more often). */
  idleTimeoutMs: number;
  /** Open connections at most, event streams included; more are refused at once. */
  maxConnections: number;
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
    allowedHosts: [],
    // A content and four style images of 20 MiB at ~3 Mbit/s; a slower client is cut off.
    requestTimeoutMs: 300_000,
    idleTimeoutMs: 60_000,
    // Well below the usual 1024 open files, so the server keeps handles for its own files.
    maxConnections: 256,
    maxRunning: 1,
    maxQueued: 8,
    memoryBudgetBytes: defaultMemoryBudget(),
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
  whole("requestTimeoutMs", "request timeout (ms)", 1);
  whole("idleTimeoutMs", "idle timeout (ms)", 1);
  whole("maxConnections", "maximum connections", 1);
  if (config.threads !== undefined) whole("threads", "threads", 1);
  if (config.model !== undefined) oneOf({ key: "model", label: "model" }, config.model, MODEL_NAMES);
  text({ key: "host", label: "host to bind" }, config.host);
  if (config.token !== undefined && config.token.length < MIN_TOKEN_LENGTH) {
    throw badOption(() => `the access token must have at least ${MIN_TOKEN_LENGTH} characters, got ${config.token!.length}`);
  }
  if (config.token === undefined && !isLoopback(config.host)) {
    throw badOption(() => `a server bound to ${config.host} can be reached by other computers: it needs an access token (--token)`);
  }
  return config;
}
