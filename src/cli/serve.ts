import { randomBytes } from "node:crypto";
import { PasticheError, type OptionName } from "../errors.js";
import { positiveNumber, wholeNumber } from "../options/Check.js";
import type { ModelName } from "../backbone/Backbone.js";
import { isLoopback } from "../server/AccessControl.js";
import { defaultMemoryBudget } from "../pipeline/MemoryBudget.js";
import type { JobQueue } from "../server/JobQueue.js";
import { JobWorker } from "../server/JobWorker.js";
import { RedisJobQueue } from "../server/RedisJobQueue.js";
import { checkRedisUrl, redisAddress } from "../server/RedisJobStore.js";
import { buildServer } from "../server/Server.js";
import type { ServerConfig } from "../server/ServerConfig.js";
import { runUntilSignal } from "./Shutdown.js";

/** `pastiche serve` options, as the command line gives them (already parsed to numbers). */
export interface ServeOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: only this computer can connect. */
  host?: string;
  /** Jobs running at once (default 1). */
  maxJobs?: number;
  /** Jobs waiting at most (default 8). */
  maxQueue?: number;
  /** Memory budget for running jobs in bytes, the run option --max-memory (default 75% of RAM). */
  maxMemory?: number;
  /** Per uploaded file, in MiB (default 20). */
  maxUploadMb?: number;
  weights?: string;
  model?: ModelName;
  threads?: number;
  /** Required of every client; generated when the server is bound to a non-loopback address. */
  token?: string;
  /** Names, besides loopback names and IP addresses, that clients may reach the server by. */
  allowedHost?: string[];
  /** Log every request (Fastify's JSON log) to stdout. */
  verbose?: boolean;
  /** redis://HOST:PORT: jobs go to a BullMQ queue in this Redis, run by workers on any machine. */
  redis?: string;
  /** With `redis`: jobs this process runs at once (default 1; 0 = web only, other machines' workers run them). */
  workers?: number;
  /** With `redis`: hours finished jobs and their results stay in Redis (default 24). */
  expireHours?: number;
}

const DEFAULT_EXPIRE_HOURS = 24;

/**
 * Runs the web app until SIGINT or SIGTERM, then closes: the in-process queue cancels its jobs;
 * with --redis they stay in Redis, and this process's workers put their running jobs back in the
 * queue. A second signal while shutting down exits at once.
 */
export async function serve(opts: ServeOptions = {}): Promise<void> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 8080;
  wholeNumber({ key: "port", label: "port" }, port, 0, 65535);
  if (opts.redis === undefined && (opts.workers !== undefined || opts.expireHours !== undefined)) {
    throw new PasticheError("BAD_OPTION", `${opts.workers !== undefined ? "--workers" : "--expire-hours"} applies to the Redis queue: add --redis redis://HOST:PORT`);
  }
  // Checked under the flags' own names; the server's config names them differently.
  if (opts.maxJobs !== undefined) wholeNumber({ key: "maxJobs", label: "max jobs" }, opts.maxJobs, 1);
  if (opts.maxQueue !== undefined) wholeNumber({ key: "maxQueue", label: "max queue" }, opts.maxQueue, 0);
  const makeQueue = opts.redis === undefined ? undefined : redisQueue(opts, opts.redis);
  // Reachable from other computers: nobody gets in without the token, as with notebook servers.
  const token = opts.token ?? (isLoopback(host) ? undefined : randomBytes(24).toString("base64url"));
  const app = buildServer({
    host,
    token,
    allowedHosts: opts.allowedHost,
    maxRunning: opts.maxJobs,
    maxQueued: opts.maxQueue,
    memoryBudgetBytes: opts.maxMemory,
    maxUploadBytes: mib({ key: "maxUploadMb", label: "maximum upload size (MiB)" }, opts.maxUploadMb),
    weights: opts.weights,
    model: opts.model,
    threads: opts.threads,
    logger: opts.verbose ?? false,
  }, makeQueue);
  try {
    await app.listen({ port, host });
  } catch (e) {
    // The queue's connections (Redis) would keep the process alive.
    await app.close();
    const code = (e as { code?: unknown }).code;
    if (code === "EADDRINUSE") {
      throw new PasticheError("BAD_OPTION", `Port ${port} on ${host} is already in use: choose another with --port`, { cause: e });
    }
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") {
      throw new PasticheError("BAD_OPTION", `Cannot listen on "${host}": it is not an address of this computer`, { cause: e });
    }
    throw e;
  }

  // Once listening (a port in use ends here, with no worker left running). The local workers run
  // jobs with this server's weights, model, threads and memory budget.
  const worker =
    opts.redis !== undefined && (opts.workers ?? 1) > 0
      ? new JobWorker({
          url: opts.redis,
          concurrency: opts.workers ?? 1,
          memoryBudgetBytes: opts.maxMemory ?? defaultMemoryBudget(),
          weights: opts.weights,
          model: opts.model,
          threads: opts.threads,
        })
      : undefined;
  // Not awaited: with Redis away the server starts anyway (answering 503) and the worker joins when it is back.
  worker?.start().then(
    () => console.log("Its worker is connected: waiting for jobs"),
    (e: unknown) => console.error("pastiche: the local worker could not start:", e),
  );

  const address = app.server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  const query = token === undefined ? "" : `?token=${encodeURIComponent(token)}`;
  console.log(`Pastiche is running at http://${shownHost}:${boundPort}/${query}  (Ctrl+C to stop)`);
  if (!isLoopback(host)) {
    console.log(
      `Listening on ${host}: other computers can reach it, with the token in the address above. ` +
        `Names other than IP addresses must be allowed with --allowed-host NAME.`,
    );
  }
  if (opts.redis !== undefined) {
    console.log(`Jobs are kept in Redis at ${redisAddress(opts.redis)}; ${worker ? `this process is a ${worker.describe()}` : "no worker runs in this process (--workers 0)"}.`);
  }

  await runUntilSignal(
    (signal) => `${signal}: ${opts.redis === undefined ? "cancelling jobs and shutting down" : "shutting down; the jobs stay in Redis"}…`,
    async () => {
      // The worker first: its running jobs go back to the queue while open pages can still hear so.
      await worker?.close();
      await app.close();
    },
  );
}

/** The Redis queue's maker, after checking the options that only apply to it. */
function redisQueue(opts: ServeOptions, url: string): (config: ServerConfig) => JobQueue {
  checkRedisUrl(url);
  if (opts.maxJobs !== undefined) {
    throw new PasticheError("BAD_OPTION", "--max-jobs sets the in-process queue; with --redis, jobs run on workers: use --workers N (and `pastiche worker` elsewhere)");
  }
  if (opts.workers !== undefined) wholeNumber({ key: "workers", label: "workers" }, opts.workers, 0);
  const hours = positiveNumber({ key: "expireHours", label: "expiry (hours)" }, opts.expireHours ?? DEFAULT_EXPIRE_HOURS);
  return (config) => new RedisJobQueue({ url, maxQueued: config.maxQueued, expirySeconds: Math.ceil(hours * 3600) });
}

function mib(option: OptionName, value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.floor(positiveNumber(option, value) * 2 ** 20);
}
